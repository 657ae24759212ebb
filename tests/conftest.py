"""Shared fixtures: small real corpora and real trained models on temporary directories."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import pytest

from classifier.corpus import EVAL, TRAIN, read_examples, read_training


def _sample(path: Path, per_label: int, seed: int) -> list[dict]:
    by_label = defaultdict(list)
    for ex in read_examples(path):
        by_label[ex.label].append({"text": ex.text, "label": ex.label})
    rng = random.Random(seed)
    rows = []
    for label in sorted(by_label):
        rows += rng.sample(by_label[label], min(per_label, len(by_label[label])))
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> tuple[Path, Path]:
    """(train, eval) JSON Lines files: a few real examples of every label from each split."""
    root = tmp_path_factory.mktemp("corpus")
    return (_write(root / "train.jsonl", _sample(TRAIN, 12, 1)),
            _write(root / "eval.jsonl", _sample(EVAL, 4, 2)))
from tests.backend_fixtures import *  # noqa: E402,F401,F403  tracking backend, tracker client, StandIn


@pytest.fixture(scope="session")
def shipped_models(tmp_path_factory):
    """A models directory whose live version is the default recipe trained on the shipped corpus."""
    from classifier import registry
    from classifier.train import train

    out = tmp_path_factory.mktemp("shipped-models")
    result = train(read_training(), read_examples(EVAL), out)
    registry.promote(out, result.version_dir.name)
    return out, result


@pytest.fixture()
def backend(tmp_path):
    """The reference tracking backend on a free loopback port with the bots' test key."""
    from backend.process import BackendProcess
    from tests.bot_harness import API_KEY

    with BackendProcess(tmp_path / "backend.db", api_keys=[API_KEY]) as proc:
        yield proc


@pytest.fixture()
def bot_env(monkeypatch):
    from tests.bot_harness import API_KEY

    monkeypatch.setenv("GRIDBOT_TEST_API_KEY", API_KEY)
