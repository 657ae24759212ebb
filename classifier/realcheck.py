"""The real-text check: how the model behaves on text of kinds it was never trained on.

The figures are the ones a district feels, at the bot's own thresholds:
- of real non-complaints (chit-chat, reviews, drama lines), the share the bot would act on:
  `flagged` (confidence >= ignore_below: a question to the grid manager or a ticket) and
  `auto` (>= auto_ticket: a ticket with nobody asked);
- of real complaints, the share raised at all (`detected`) and the share raised in the right
  category (`right_category`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.corpus import NONE, DataError
from classifier.evaluate import expected_calibration_error, reliability


@dataclass(frozen=True)
class CheckLine:
    text: str
    label: str
    source: str


def read_check(path: Path | str) -> list[CheckLine]:
    """Lines of a check file: {"text", "label", "source"}; a bad line is an error naming it."""
    out = []
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            out.append(CheckLine(str(row["text"]), str(row["label"]), str(row.get("source", "?"))))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: not a check line ({exc})") from exc
    if not out:
        raise DataError(f"{path}: no lines")
    return out


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


def check_model(model, lines: Sequence[CheckLine], ignore_below: float, auto_ticket: float) -> dict:
    """Figures per source and for all lines, plus the reliability table over the whole check."""
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


def side_by_side(fixed_metrics: dict, fixed: dict, real: dict) -> str:
    """Markdown: the same measures on the fixed evaluation split and on the real-text check."""
    f, r = fixed["all"], real["all"]
    rows = [
        ("detection F1 (complaint vs none, arg-max)", f"{fixed_metrics['detection']['f1']:.3f}", "-"),
        ("category macro-F1 over complaints", f"{fixed_metrics['category_macro_f1']:.3f}", "-"),
        ("non-complaints flagged (>= ignore_below)", _pct(f["flagged"]), _pct(r["flagged"])),
        ("non-complaints flagged at auto_ticket", _pct(f["flagged_auto"]), _pct(r["flagged_auto"])),
        ("complaints detected (>= ignore_below)", _pct(f["detected"]), _pct(r["detected"])),
        ("complaints in the right category", _pct(f["right_category"]), _pct(r["right_category"])),
        ("expected calibration error", f"{fixed['ece']:.3f}", f"{real['ece']:.3f}"),
        ("lines (non-complaints / complaints)", f"{f['non_complaints']} / {f['complaints']}",
         f"{r['non_complaints']} / {r['complaints']}"),
    ]
    out = ["| measure | fixed split | real-text check |", "|---|---:|---:|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)
