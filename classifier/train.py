"""Train a model version, evaluate it on the fixed split, and decide whether it may go live."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

from classifier import registry
from classifier.corpus import Example, data_hash, labels
from classifier.evaluate import evaluate_model
from classifier.pipeline import DEFAULT, SEED, build
from classifier.text import normalize

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    version_dir: Path
    model: registry.Model
    metrics: dict
    dropped_overlap: int


def library_versions() -> dict[str, str]:
    names = ["scikit-learn", "skops", "jieba", "numpy", "scipy"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def without_eval_texts(train: Sequence[Example], eval_set: Sequence[Example]) -> tuple[list[Example], int]:
    """Training examples minus any whose normalized text is in the evaluation split."""
    held_out = {normalize(ex.text) for ex in eval_set}
    kept = [ex for ex in train if normalize(ex.text) not in held_out]
    return kept, len(train) - len(kept)


def score(m: dict) -> float:
    """The single figure promotion compares: mean of detection F1 and category macro-F1."""
    return (m["detection"]["f1"] + m["category_macro_f1"]) / 2


def card_metrics(m: dict) -> dict:
    keep = ("n", "accuracy", "detection", "category_macro_f1", "macro_f1", "ece", "per_label", "reliability")
    return {k: m[k] for k in keep}


def train(train_set: Sequence[Example], eval_set: Sequence[Example], models_dir: Path | str,
          candidate: str = DEFAULT, progress: Progress | None = None,
          sources: dict | None = None) -> TrainResult:
    """Fit one candidate on train_set, evaluate on eval_set, save a new version (not promoted)."""
    say = progress or (lambda _msg: None)
    train_set, dropped = without_eval_texts(train_set, eval_set)
    say(f"fitting {candidate} on {len(train_set)} examples")
    started = time.perf_counter()
    pipeline = build(candidate)
    pipeline.fit([ex.text for ex in train_set], [ex.label for ex in train_set])
    seconds = time.perf_counter() - started
    missing = set(labels()) - {str(c) for c in pipeline.classes_}
    if missing:
        raise ValueError(f"training data has no example of: {', '.join(sorted(missing))}")
    say(f"evaluating on {len(eval_set)} held-out examples")
    model = registry.Model(version="unsaved", pipeline=pipeline, card={})
    m, _ = evaluate_model(model, eval_set)
    card = {
        "candidate": candidate,
        "labels": model.labels,
        "seed": SEED,
        "train_examples": len(train_set),
        "train_data_sha256": data_hash(train_set),
        "eval_examples": len(eval_set),
        "eval_data_sha256": data_hash(eval_set),
        "dropped_eval_overlap": dropped,
        "sources": sources or {},
        "metrics": card_metrics(m),
        "score": score(m),
        "train_seconds": round(seconds, 2),
        "libraries": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    say("saving")
    version_dir = registry.save(pipeline, card, models_dir)
    model = registry.load(version_dir)
    return TrainResult(version_dir, model, m, dropped)


@dataclass
class PromotionDecision:
    promote: bool
    new_score: float
    live_score: float | None
    live_version: str | None
    reason: str


def decide_promotion(models_dir: Path | str, result: TrainResult,
                     eval_set: Sequence[Example]) -> PromotionDecision:
    """A new version goes live only if it is not worse than the live one on the same split.

    The live model is re-evaluated now rather than trusting its card, because the split
    it was measured on may have been a different file.
    """
    new = score(result.metrics)
    try:
        live = registry.load_current(models_dir)
    except registry.ModelFileError as exc:
        return PromotionDecision(True, new, None, None, f"no usable live model ({exc})")
    live_metrics, _ = evaluate_model(live, eval_set)
    old = score(live_metrics)
    if new + 1e-9 >= old:
        return PromotionDecision(True, new, old, live.version, f"score {new:.4f} >= live {old:.4f}")
    return PromotionDecision(False, new, old, live.version, f"score {new:.4f} < live {old:.4f}")
