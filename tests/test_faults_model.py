"""A broken model file: missing, truncated, tampered with (bytes changed, or swapped for other code
with a forged card). The bot refuses to start with a clear message (exit code 3) or, when it is
already running, keeps the last good model and goes on classifying."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.tree import DecisionTreeClassifier

from bot.live_model import LiveModel
from classifier import registry
from tests.fault_tools import bot_config, write_config

ROOT = Path(__file__).resolve().parents[1]
BROKEN = "20990101-000000"
LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"


def break_model(version_dir: Path, how: str) -> None:
    model, card = version_dir / registry.MODEL_FILE, version_dir / registry.CARD_FILE
    if how == "missing":
        model.unlink()
    elif how == "truncated":
        data = model.read_bytes()
        model.write_bytes(data[: len(data) // 2])
    elif how == "tampered":
        with open(model, "r+b") as fh:
            fh.seek(200)
            fh.write(b"\x00tampered\x00")
    elif how in ("forged", "forged-code"):  # another object in the file, its card rewritten to match
        sio.dump(DecisionTreeClassifier() if how == "forged" else {"run": os.system}, model)
        data = json.loads(card.read_text(encoding="utf-8"))
        data["model_sha256"] = registry.sha256_file(model)
        card.write_text(json.dumps(data), encoding="utf-8")
    elif how == "no-card":
        card.unlink()
    elif how == "garbled-card":
        card.write_text("{not json", encoding="utf-8")
    elif how == "no-version":
        shutil.rmtree(version_dir)
    else:
        raise ValueError(how)


REASONS = {"missing": "model file missing", "truncated": "checksum does not match",
           "tampered": "checksum does not match", "forged": "not a fitted classifier of the labels its card lists",
           "forged-code": "refuses to load untrusted types: posix.system",
           "no-card": "model card missing", "garbled-card": "unreadable model card",
           "no-version": "model card missing"}


@pytest.fixture
def models(tmp_path, shipped_models) -> Path:
    """A copy of the shipped models with a second version, BROKEN, that CURRENT will name."""
    models = tmp_path / "models"
    shutil.copytree(shipped_models[0], models)
    shutil.copytree(models / registry.current_version(models), models / BROKEN)
    return models


@pytest.mark.parametrize("how", ["missing", "truncated", "tampered", "forged", "forged-code"])
def test_the_bot_refuses_to_start_on_a_broken_model(tmp_path, models, how, monkeypatch):
    monkeypatch.setenv("GRIDBOT_TEST_API_KEY", "unused")
    break_model(models / BROKEN, how)
    (models / "CURRENT").write_text(BROKEN + "\n")
    config = write_config(tmp_path / "config.yaml", bot_config(tmp_path, "http://127.0.0.1:9", models, groups=1))
    done = subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"model error: {models / BROKEN}") and REASONS[how] in last
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "bot.db").exists()  # refused before it took anything


@pytest.mark.parametrize("how", sorted(REASONS))
def test_a_running_bot_keeps_its_last_good_model_when_the_new_one_is_broken(models, how, caplog):
    live = LiveModel(models, reload_interval=0)
    good = live.version
    before = live.classify(LIGHT)
    break_model(models / BROKEN, how)
    (models / "CURRENT").write_text(BROKEN + "\n")
    assert live.maybe_reload(force=True) is False
    assert live.version == good and live.classify(LIGHT) == before
    assert f"keeping model {good}" in caplog.text and REASONS[how] in caplog.text
