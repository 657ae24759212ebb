"""Model versions on disk: models/<version>/model.skops + card.json, and models/CURRENT.

A model file is never trusted blindly: its sha256 must match the card, and skops may only
rebuild the types listed in TRUSTED_TYPES. CURRENT and HISTORY change by atomic rename, so a
running bot that re-reads CURRENT sees either the old or the new version, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import skops.io as sio

from classifier.corpus import NONE

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"

# Everything a gridbot Pipeline is made of that skops does not trust by default.
TRUSTED_TYPES = frozenset({
    "classifier.text.normalize",
    "classifier.text.tokenize",
    "classifier.pipeline.normalize_chars",
    "classifier.pipeline.CompactTfidfVectorizer",
    "classifier.calibration.SoftmaxCalibratedSVC",
    "classifier.calibration.TwoStageClassifier",
    "classifier.cues.GrievanceCues",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.float",
    "builtins.int",
    "builtins.str",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
    "numpy.int32",
    "numpy.dtype",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.frozen._frozen.FrozenEstimator",
})


class ModelFileError(RuntimeError):
    """A model version that cannot be used: missing, truncated, tampered with or of unknown types."""


@dataclass
class Model:
    """A loaded model version: the Pipeline and its card."""

    version: str
    pipeline: object
    card: dict

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(label, confidence) for each text; confidence is the calibrated probability of the label."""
        if not texts:
            return []
        proba = self.pipeline.predict_proba(list(texts))
        best = proba.argmax(axis=1)
        classes = self.pipeline.classes_
        return [(str(classes[i]), float(proba[row, i])) for row, i in enumerate(best)]

    def best_complaint(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(the most likely complaint category, the probability that the text is a complaint at
        all) for each text: what a grid manager reviews when the model said "not a complaint"."""
        if not texts:
            return []
        proba = self.pipeline.predict_proba(list(texts))
        classes = [str(c) for c in self.pipeline.classes_]
        none = classes.index(NONE) if NONE in classes else None
        out = []
        for row in proba:
            ranked = sorted(range(len(classes)), key=lambda i: -row[i])
            category = next(classes[i] for i in ranked if i != none)
            out.append((category, float(1.0 - row[none]) if none is not None else float(row[ranked[0]])))
        return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def new_version(models_dir: Path) -> str:
    """A sortable, unique version name such as 20261125-031500."""
    base = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    version, n = base, 1
    while (Path(models_dir) / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def save(pipeline, card: dict, models_dir: Path | str, version: str | None = None) -> Path:
    """Write a new version directory (model then card, so a card always describes a whole file)."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    version = version or new_version(models_dir)
    target = models_dir / version
    staging = Path(tempfile.mkdtemp(dir=models_dir, prefix=f".{version}."))
    sio.dump(pipeline, staging / MODEL_FILE)
    card = {**card, "version": version, "model_sha256": sha256_file(staging / MODEL_FILE)}
    (staging / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(staging, target)
    return target


def read_card(version_dir: Path | str) -> dict:
    path = Path(version_dir) / CARD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model card missing") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: unreadable model card ({exc})") from exc


def load(version_dir: Path | str) -> Model:
    """Load one version, refusing a file that does not match its card or holds unknown types."""
    version_dir = Path(version_dir)
    path = version_dir / MODEL_FILE
    card = read_card(version_dir)
    if not path.exists():
        raise ModelFileError(f"{path}: model file missing")
    if sha256_file(path) != card.get("model_sha256"):
        raise ModelFileError(f"{path}: checksum does not match its card; the file was changed or truncated")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises many kinds on a corrupt archive
        raise ModelFileError(f"{path}: not a readable skops file ({exc})") from exc
    unknown = sorted(set(untrusted) - TRUSTED_TYPES)
    if unknown:
        raise ModelFileError(f"{path}: refuses to load untrusted types: {', '.join(unknown)}")
    try:
        pipeline = sio.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot load model ({exc})") from exc
    # skops trusts every scikit-learn type, so a file swapped together with its card can still load:
    # it must at least be a fitted classifier of the labels the card lists.
    labels = sorted(str(c) for c in getattr(pipeline, "classes_", []))
    if not callable(getattr(pipeline, "predict_proba", None)) or not labels or \
            ("labels" in card and labels != sorted(map(str, card["labels"]))):
        raise ModelFileError(f"{path}: not a fitted classifier of the labels its card lists")
    return Model(version=card.get("version", version_dir.name), pipeline=pipeline, card=card)


def current_version(models_dir: Path | str) -> str | None:
    path = Path(models_dir) / "CURRENT"
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def load_current(models_dir: Path | str) -> Model:
    version = current_version(models_dir)
    if version is None:
        raise ModelFileError(f"{Path(models_dir) / 'CURRENT'}: no live model; run `python -m classifier train`")
    return load(Path(models_dir) / version)


def history(models_dir: Path | str) -> list[str]:
    path = Path(models_dir) / "HISTORY"
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def promote(models_dir: Path | str, version: str) -> None:
    """Make `version` live after checking it loads; the previous live one goes on HISTORY."""
    models_dir = Path(models_dir)
    load(models_dir / version)
    previous = current_version(models_dir)
    if previous == version:
        return
    if previous:
        _write_atomic(models_dir / "HISTORY", "".join(f"{v}\n" for v in [*history(models_dir), previous]))
    _write_atomic(models_dir / "CURRENT", version + "\n")


def rollback(models_dir: Path | str) -> str:
    """Go back to the version that was live before the current one; returns it."""
    models_dir = Path(models_dir)
    past = history(models_dir)
    while past:
        candidate = past.pop()
        try:
            load(models_dir / candidate)
        except ModelFileError:
            continue  # a broken or deleted old version is skipped, not restored
        _write_atomic(models_dir / "CURRENT", candidate + "\n")
        _write_atomic(models_dir / "HISTORY", "".join(f"{v}\n" for v in past))
        return candidate
    raise ModelFileError(f"{models_dir}: no earlier usable version to roll back to")


def versions(models_dir: Path | str) -> list[dict]:
    """Every version directory with its card (or the error that makes it unusable), oldest first."""
    models_dir = Path(models_dir)
    live = current_version(models_dir)
    rows = []
    for child in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if models_dir.exists() else []:
        try:
            card = read_card(child)
            rows.append({"version": child.name, "live": child.name == live, "card": card})
        except ModelFileError as exc:
            rows.append({"version": child.name, "live": child.name == live, "error": str(exc)})
    return rows
