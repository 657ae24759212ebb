"""Saving and loading model versions: round trip, determinism, refusal of tampered files."""

from __future__ import annotations

import json
import os

import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from classifier import registry
from classifier.corpus import read_examples
from classifier.train import train


@pytest.fixture(scope="module")
def trained(small_corpus, tmp_path_factory):
    train_path, eval_path = small_corpus
    out = tmp_path_factory.mktemp("reg")
    result = train(read_examples(train_path), read_examples(eval_path), out)
    return out, result


def test_saved_version_loads_and_predicts_the_same(trained, small_corpus):
    out, result = trained
    texts = [ex.text for ex in read_examples(small_corpus[1])]
    again = registry.load(result.version_dir)
    assert again.predict(texts) == result.model.predict(texts)


def test_same_data_and_seed_give_the_same_model(trained, small_corpus, tmp_path):
    _, first = trained
    second = train(read_examples(small_corpus[0]), read_examples(small_corpus[1]), tmp_path)
    assert second.metrics == first.metrics
    assert second.model.card["train_data_sha256"] == first.model.card["train_data_sha256"]
    texts = [ex.text for ex in read_examples(small_corpus[1])]
    assert second.model.predict(texts) == first.model.predict(texts)


def test_a_changed_byte_is_refused(trained, tmp_path):
    _, result = trained
    copy = tmp_path / "v"
    copy.mkdir()
    data = bytearray((result.version_dir / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.skops").write_bytes(bytes(data))
    (copy / "card.json").write_text((result.version_dir / "card.json").read_text())
    with pytest.raises(registry.ModelFileError, match="checksum"):
        registry.load(copy)


def test_a_truncated_file_is_refused(trained, tmp_path):
    _, result = trained
    copy = tmp_path / "v"
    copy.mkdir()
    (copy / "model.skops").write_bytes((result.version_dir / "model.skops").read_bytes()[:1000])
    card = json.loads((result.version_dir / "card.json").read_text())
    card["model_sha256"] = registry.sha256_file(copy / "model.skops")
    (copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(registry.ModelFileError, match="not a readable skops file|cannot load"):
        registry.load(copy)


def test_a_file_with_untrusted_types_is_refused_even_with_a_matching_card(tmp_path):
    evil = Pipeline([("run", FunctionTransformer(func=os.system))])
    (tmp_path / "v").mkdir()
    sio.dump(evil, tmp_path / "v" / "model.skops")
    card = {"version": "v", "model_sha256": registry.sha256_file(tmp_path / "v" / "model.skops")}
    (tmp_path / "v" / "card.json").write_text(json.dumps(card))
    with pytest.raises(registry.ModelFileError, match="untrusted types.*system"):
        registry.load(tmp_path / "v")


def test_missing_model_file_and_missing_current_are_clear(tmp_path):
    with pytest.raises(registry.ModelFileError, match="no live model"):
        registry.load_current(tmp_path)
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "card.json").write_text("{}")
    with pytest.raises(registry.ModelFileError, match="model file missing"):
        registry.load(tmp_path / "v")


def test_training_never_sees_evaluation_texts(small_corpus, tmp_path):
    train_set = read_examples(small_corpus[0]) + read_examples(small_corpus[1])[:5]
    result = train(train_set, read_examples(small_corpus[1]), tmp_path)
    assert result.dropped_overlap == 5
