"""`python -m classifier` end to end on small real files: train, predict, evaluate, versions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.corpus import labels

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "classifier", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def models(small_corpus, tmp_path_factory) -> Path:
    train, evaluation = small_corpus
    out = tmp_path_factory.mktemp("models")
    done = cli("train", "--data", str(train), "--eval", str(evaluation), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "detection (complaint vs none)" in done.stdout
    assert "promoted" in done.stdout
    return out


def test_train_makes_a_live_version_with_a_card(models):
    version = (models / "CURRENT").read_text().strip()
    card = json.loads((models / version / "card.json").read_text())
    assert set(card["labels"]) == set(labels())
    for key in ("train_data_sha256", "metrics", "libraries", "created", "model_sha256"):
        assert key in card
    assert card["libraries"]["scikit-learn"]


def test_predict_keeps_keys_adds_label_and_reports_bad_lines(models, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": 7, "text": "3栋楼道灯坏了一个星期了，晚上摸黑上楼", "group": "g1"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": 8, "text": ""}),
        json.dumps({"id": 9, "text": 42}),
        json.dumps([1, 2]),
        json.dumps({"id": 10, "text": "收到"}, ensure_ascii=False),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = cli("predict", "--input", str(src), "--output", str(out), "--model", str(models))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [7, 8, 9, 10]
    assert rows[0]["group"] == "g1" and rows[0]["text"].startswith("3栋")
    assert rows[1]["label"] == "none" and rows[2]["label"] == "none"
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)
    assert "line 2" in done.stderr and "line 5" in done.stderr
    assert "line 3" in done.stderr and "line 4" in done.stderr


def test_predict_reads_stdin_and_writes_stdout(models):
    done = cli("predict", "--input", "-", "--output", "-", "--model", str(models),
               stdin='{"text": "小区门口的路灯不亮了"}\n')
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.splitlines()[0])
    assert row["text"] == "小区门口的路灯不亮了" and "label" in row


def test_evaluate_writes_markdown_report_and_confusion_png(models, small_corpus, tmp_path):
    done = cli("evaluate", "--model", str(models), "--data", str(small_corpus[1]), "--report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| lighting | 路灯照明 |" in report and "Reliability" in report
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_promote_list_and_rollback(models, small_corpus):
    first = (models / "CURRENT").read_text().strip()
    train, evaluation = small_corpus
    done = cli("train", "--data", str(train), "--eval", str(evaluation), "--out", str(models), "--promote", "never")
    assert done.returncode == 0, done.stderr
    second = sorted(p.name for p in models.iterdir() if p.is_dir())[-1]
    assert second != first and (models / "CURRENT").read_text().strip() == first
    assert cli("promote", second, "--models", str(models)).returncode == 0
    assert (models / "CURRENT").read_text().strip() == second
    listing = cli("list", "--models", str(models)).stdout
    assert f"* {second}" in listing and f"  {first}" in listing
    back = cli("rollback", "--models", str(models))
    assert back.returncode == 0 and first in back.stdout
    assert (models / "CURRENT").read_text().strip() == first


def test_a_bad_training_file_is_a_clear_error_with_its_line(tmp_path, small_corpus):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "路灯坏了", "label": "lighting"}\n{"text": "x", "label": "weather"}\n', encoding="utf-8")
    done = cli("train", "--data", str(bad), "--eval", str(small_corpus[1]), "--out", str(tmp_path / "m"))
    assert done.returncode == 2
    assert "bad.jsonl:2" in done.stderr and "weather" in done.stderr
    assert "Traceback" not in done.stderr


def test_rollback_without_history_says_so(tmp_path):
    done = cli("rollback", "--models", str(tmp_path))
    assert done.returncode == 2 and "no earlier usable version" in done.stderr
