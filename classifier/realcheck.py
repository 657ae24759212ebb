"""The real-text check: how the model behaves on text of kinds it was never trained on.

The figures are the ones a district feels, at the bot's own thresholds:
- of real non-complaints (chit-chat, reviews, drama lines), the share the bot would act on:
  `flagged` (confidence >= ignore_below: a question to the grid manager or a ticket) and
  `auto` (>= auto_ticket: a ticket with nobody asked);
- of real complaints, the share raised at all (`detected`) and the share raised in the right
  category (`right_category`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from classifier.corpus import NONE, Example
from classifier.evaluate import expected_calibration_error, reliability


def _share(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def figures(truth: Sequence[str], pred: Sequence[str], conf: Sequence[float],
            ignore_below: float, auto_ticket: float) -> dict:
    truth, pred, conf = np.asarray(truth), np.asarray(pred), np.asarray(conf, dtype=float)
    raised = (pred != NONE) & (conf >= ignore_below)
    auto = (pred != NONE) & (conf >= auto_ticket)
    real = truth != NONE
    return {
        "n": int(truth.size),
        "non_complaints": int((~real).sum()),
        "complaints": int(real.sum()),
        "flagged": _share(raised[~real]),
        "flagged_auto": _share(auto[~real]),
        "flagged_any_label": _share((pred != NONE)[~real]),
        "detected": _share(raised[real]),
        "right_category": _share((raised & (pred == truth))[real]),
        "auto_right": _share((pred == truth)[auto & real]) if (auto & real).any() else None,
    }


def check_model(model, lines: Sequence[Example], ignore_below: float, auto_ticket: float) -> dict:
    """Figures per source and for all lines, plus the reliability table over the whole check.

    Lines are read with `corpus.read_examples`; each keeps its `source`.
    """
    predictions = model.predict([ln.text for ln in lines])
    pred = [p[0] for p in predictions]
    conf = np.asarray([p[1] for p in predictions], dtype=float)
    truth = [ln.label for ln in lines]
    result = {"sources": {}, "all": figures(truth, pred, conf, ignore_below, auto_ticket)}
    for source in sorted({ln.source for ln in lines}):
        idx = [i for i, ln in enumerate(lines) if ln.source == source]
        result["sources"][source] = figures([truth[i] for i in idx], [pred[i] for i in idx],
                                            conf[idx], ignore_below, auto_ticket)
    correct = np.asarray(pred) == np.asarray(truth)
    result["reliability"] = reliability(conf, correct)
    result["ece"] = expected_calibration_error(conf, correct)
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def check_table(result: dict) -> str:
    """Markdown: one row per source, then all lines."""
    lines = ["| source | lines | non-complaints flagged | flagged at auto_ticket | complaints detected "
             "| right category |", "|---|---:|---:|---:|---:|---:|"]
    rows = list(result["sources"].items()) + [("**all**", result["all"])]
    for name, f in rows:
        lines.append(f"| {name} | {f['n']} | {_pct(f['flagged'])} | {_pct(f['flagged_auto'])} "
                     f"| {_pct(f['detected'])} | {_pct(f['right_category'])} |")
    return "\n".join(lines)


def side_by_side(fixed_metrics: dict, f: dict, real: dict) -> str:
    """Markdown: the same measures on the fixed evaluation split and on the real-text check.

    `fixed_metrics` is `evaluate.metrics` of the fixed split, `f` its `figures` at the same thresholds.
    """
    r = real["all"]
    rows = [
        ("detection F1 (complaint vs none, arg-max)", f"{fixed_metrics['detection']['f1']:.3f}", "-"),
        ("category macro-F1 over complaints", f"{fixed_metrics['category_macro_f1']:.3f}", "-"),
        ("non-complaints flagged (>= ignore_below)", _pct(f["flagged"]), _pct(r["flagged"])),
        ("non-complaints flagged at auto_ticket", _pct(f["flagged_auto"]), _pct(r["flagged_auto"])),
        ("complaints detected (>= ignore_below)", _pct(f["detected"]), _pct(r["detected"])),
        ("complaints in the right category", _pct(f["right_category"]), _pct(r["right_category"])),
        ("expected calibration error", f"{fixed_metrics['ece']:.3f}", f"{real['ece']:.3f}"),
        ("lines (non-complaints / complaints)", f"{f['non_complaints']} / {f['complaints']}",
         f"{r['non_complaints']} / {r['complaints']}"),
    ]
    out = ["| measure | fixed split | real-text check |", "|---|---:|---:|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)
