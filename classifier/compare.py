"""Compare pipeline candidates on the training data (cross-validation) and on the real-text check.

The real-text check is the development set that decides between recipes; the fixed evaluation
split is reported alongside as the floor a recipe must not lose, never used to choose.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold

from classifier.corpus import AUTO_TICKET, IGNORE_BELOW, read_examples, read_training
from classifier.evaluate import metrics
from classifier.pipeline import SEED, build
from classifier.train import score, without_eval_texts


def _predict(pipe, texts):
    """(labels, confidences, seconds) of a fitted pipeline."""
    started = time.perf_counter()
    proba = pipe.predict_proba(texts)
    seconds = time.perf_counter() - started
    best = proba.argmax(axis=1)
    return [str(pipe.classes_[i]) for i in best], proba[np.arange(len(best)), best], seconds


def _fit(name: str, train_texts, train_labels):
    """(fitted pipeline, seconds)."""
    pipe = build(name)
    started = time.perf_counter()
    pipe.fit(train_texts, train_labels)
    return pipe, time.perf_counter() - started


def cross_validate(name: str, texts: list[str], y: list[str], folds: int = 3) -> tuple[float, float]:
    """Mean (score, expected calibration error) over stratified folds of the training split."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    scores, eces = [], []
    for train_idx, test_idx in splitter.split(texts, y):
        pipe, _ = _fit(name, [texts[i] for i in train_idx], [y[i] for i in train_idx])
        pred, conf, _ = _predict(pipe, [texts[i] for i in test_idx])
        m = metrics([y[i] for i in test_idx], pred, conf, list(pipe.classes_))
        scores.append(score(m))
        eces.append(m["ece"])
    return float(np.mean(scores)), float(np.mean(eces))


def compare_candidates(names: Sequence[str], train_paths: Sequence[Path], eval_path: Path,
                       check_path: Path | None = None, ignore_below: float = IGNORE_BELOW,
                       auto_ticket: float = AUTO_TICKET) -> str:
    from classifier.realcheck import figures

    eval_set = read_examples(eval_path)
    check = read_examples(check_path) if check_path else []
    train_set, _ = without_eval_texts(read_training(train_paths), eval_set)
    texts, y = [e.text for e in train_set], [e.label for e in train_set]
    eval_texts, eval_y = [e.text for e in eval_set], [e.label for e in eval_set]
    rows = ["| candidate | CV score (train, 3-fold) | CV ECE | eval detection F1 | eval category macro-F1 "
            "| eval ECE | real: non-complaints flagged | real: flagged at auto_ticket | real: complaints detected "
            "| real: right category | fit s | eval msgs/s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        cv, cv_ece = cross_validate(name, texts, y)
        pipe, fit_s = _fit(name, texts, y)
        pred, conf, predict_s = _predict(pipe, eval_texts)
        m = metrics(eval_y, pred, conf, list(pipe.classes_))
        real = {"flagged": None, "flagged_auto": None, "detected": None, "right_category": None}
        if check:
            cpred, cconf, _ = _predict(pipe, [c.text for c in check])
            real = figures([c.label for c in check], cpred, cconf, ignore_below, auto_ticket)
        pct = ["-" if real[k] is None else f"{100 * real[k]:.2f}%"
               for k in ("flagged", "flagged_auto", "detected", "right_category")]
        rows.append(f"| {name} | {cv:.4f} | {cv_ece:.4f} | {m['detection']['f1']:.4f} | {m['category_macro_f1']:.4f} "
                    f"| {m['ece']:.4f} | {' | '.join(pct)} | {fit_s:.1f} | {len(eval_texts) / predict_s:,.0f} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)
