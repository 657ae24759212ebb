"""Metrics on the fixed evaluation split, the reliability table, and the Markdown/PNG report."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from classifier.corpus import NONE, Example

RELIABILITY_BINS = (0.0, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0001)


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def metrics(y_true: Sequence[str], y_pred: Sequence[str], confidence: Sequence[float],
            label_set: Sequence[str]) -> dict:
    """Detection (complaint vs none), per-category and macro scores, reliability and ECE."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    conf = np.asarray(confidence, dtype=float)
    is_c, said_c = y_true != NONE, y_pred != NONE
    detection = _prf(int(np.sum(is_c & said_c)), int(np.sum(~is_c & said_c)), int(np.sum(is_c & ~said_c)))
    categories = [c for c in label_set if c != NONE]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(label_set), zero_division=0)
    per_label = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                 for i, lab in enumerate(label_set)}
    # Category quality among real complaints: a complaint called `none` counts as a miss.
    _, _, fc, _ = precision_recall_fscore_support(y_true[is_c], y_pred[is_c], labels=categories,
                                                  average="macro", zero_division=0)
    _, _, f_all, _ = precision_recall_fscore_support(y_true, y_pred, labels=list(label_set),
                                                     average="macro", zero_division=0)
    correct = y_true == y_pred
    return {
        "n": int(len(y_true)),
        "accuracy": float(correct.mean()) if len(y_true) else 0.0,
        "detection": detection,
        "category_macro_f1": float(fc),
        "macro_f1": float(f_all),
        "per_label": per_label,
        "reliability": reliability(conf, correct),
        "ece": expected_calibration_error(conf, correct),
        "confusion": {"labels": list(label_set),
                      "matrix": confusion_matrix(y_true, y_pred, labels=list(label_set)).tolist()},
    }


def reliability(conf: np.ndarray, correct: np.ndarray) -> list[dict]:
    rows = []
    for lo, hi in zip(RELIABILITY_BINS, RELIABILITY_BINS[1:]):
        mask = (conf >= lo) & (conf < hi)
        n = int(mask.sum())
        rows.append({"bin": f"{lo:.2f}-{min(hi, 1.0):.2f}", "n": n,
                     "mean_confidence": float(conf[mask].mean()) if n else None,
                     "accuracy": float(correct[mask].mean()) if n else None})
    return rows


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    if len(conf) == 0:
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(ece)


def threshold_table(y_true, y_pred, conf, ignore_below: float, auto_ticket: float) -> dict:
    """What the bot's decision policy would do with these predictions."""
    y_true, y_pred, conf = np.asarray(y_true), np.asarray(y_pred), np.asarray(conf, dtype=float)
    complaint = y_pred != NONE
    auto = complaint & (conf >= auto_ticket)
    ask = complaint & (conf >= ignore_below) & (conf < auto_ticket)
    real = y_true != NONE
    return {
        "auto_ticket": int(auto.sum()),
        "auto_ticket_correct": float((y_true[auto] == y_pred[auto]).mean()) if auto.any() else None,
        "ask_manager": int(ask.sum()),
        "complaints_missed": int((real & ~(auto | ask)).sum()),
        "complaints": int(real.sum()),
    }


def evaluate_model(model, examples: Sequence[Example]) -> tuple[dict, list[tuple[str, float]]]:
    predictions = model.predict([ex.text for ex in examples])
    m = metrics([ex.label for ex in examples], [p[0] for p in predictions],
                [p[1] for p in predictions], model.labels)
    return m, predictions


def summary_table(m: dict, names: dict[str, str] | None = None) -> str:
    """Markdown: headline figures, then one row per label."""
    names = names or {}
    d = m["detection"]
    lines = [
        f"- examples: {m['n']}, accuracy {m['accuracy']:.3f}",
        f"- detection (complaint vs none): P {d['precision']:.3f}  R {d['recall']:.3f}  F1 {d['f1']:.3f}",
        f"- category macro-F1 over complaints: {m['category_macro_f1']:.3f}; macro-F1 all labels {m['macro_f1']:.3f}",
        f"- expected calibration error: {m['ece']:.3f}",
        "",
        "| label | name | precision | recall | F1 | support |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for lab, row in m["per_label"].items():
        lines.append(f"| {lab} | {names.get(lab, '')} | {row['precision']:.3f} | {row['recall']:.3f} "
                     f"| {row['f1']:.3f} | {row['support']} |")
    return "\n".join(lines)


def reliability_table(m: dict) -> str:
    lines = ["| confidence | n | mean confidence | accuracy |", "|---|---:|---:|---:|"]
    for row in m["reliability"]:
        if row["n"]:
            lines.append(f"| {row['bin']} | {row['n']} | {row['mean_confidence']:.3f} | {row['accuracy']:.3f} |")
        else:
            lines.append(f"| {row['bin']} | 0 | - | - |")
    return "\n".join(lines)


def confusion_png(m: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = m["confusion"]["labels"]
    matrix = np.asarray(m["confusion"]["matrix"])
    fig, ax = plt.subplots(figsize=(11, 10))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=70, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_title("confusion matrix (counts; colour is log scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(m: dict, out_dir: Path, title: str, names: dict[str, str] | None = None,
                 extra: str = "") -> Path:
    """report.md + confusion.png in out_dir; returns the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    confusion_png(m, out_dir / "confusion.png")
    text = (f"# {title}\n\n{summary_table(m, names)}\n\n## Reliability\n\n{reliability_table(m)}\n\n"
            f"{extra}\n## Confusion matrix\n\n![confusion matrix](confusion.png)\n")
    path = out_dir / "report.md"
    path.write_text(text, encoding="utf-8")
    return path
