"""Compare pipeline candidates: selection by cross-validation on the training split only;
evaluation-split figures are reported alongside, never used to choose."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold

from classifier.corpus import read_examples
from classifier.evaluate import metrics
from classifier.pipeline import SEED, build
from classifier.train import score, without_eval_texts


def _fit_predict(name: str, train_texts, train_labels, test_texts):
    pipe = build(name)
    started = time.perf_counter()
    pipe.fit(train_texts, train_labels)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    proba = pipe.predict_proba(test_texts)
    predict_s = time.perf_counter() - started
    classes = pipe.classes_
    best = proba.argmax(axis=1)
    return [str(classes[i]) for i in best], proba[np.arange(len(best)), best], fit_s, predict_s, list(classes)


def cross_validate(name: str, texts: list[str], y: list[str], folds: int = 3) -> tuple[float, float]:
    """Mean (score, expected calibration error) over stratified folds of the training split."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    scores, eces = [], []
    for train_idx, test_idx in splitter.split(texts, y):
        pred, conf, *_rest, classes = _fit_predict(
            name, [texts[i] for i in train_idx], [y[i] for i in train_idx], [texts[i] for i in test_idx])
        m = metrics([y[i] for i in test_idx], pred, conf, classes)
        scores.append(score(m))
        eces.append(m["ece"])
    return float(np.mean(scores)), float(np.mean(eces))


def compare_candidates(names: Sequence[str], train_path: Path, eval_path: Path) -> str:
    eval_set = read_examples(eval_path)
    train_set, _ = without_eval_texts(read_examples(train_path), eval_set)
    texts, y = [e.text for e in train_set], [e.label for e in train_set]
    eval_texts, eval_y = [e.text for e in eval_set], [e.label for e in eval_set]
    rows = ["| candidate | CV score (train, 3-fold) | CV ECE | eval detection F1 | eval category macro-F1 "
            "| eval ECE | fit s | eval msgs/s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        cv, cv_ece = cross_validate(name, texts, y)
        pred, conf, fit_s, predict_s, classes = _fit_predict(name, texts, y, eval_texts)
        m = metrics(eval_y, pred, conf, classes)
        rows.append(f"| {name} | {cv:.4f} | {cv_ece:.4f} | {m['detection']['f1']:.4f} | {m['category_macro_f1']:.4f} "
                    f"| {m['ece']:.4f} | {fit_s:.1f} | {len(eval_texts) / predict_s:,.0f} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)
