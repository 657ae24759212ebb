"""Figures of the conversation rules on labelled sets: merge precision/recall on repeat pairs,
emergency detection, and follow-up recognition. `python -m bench.conversation_rules`

The sets in tests/data/conversation/ were written by helpers who never saw the rules; lines with an
odd index are held out (the rules were only ever looked at against the even ones), and both halves
are reported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot import emergency, places
from bot.steps import followup

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "conversation"


def read(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def halves(rows: list[dict]) -> dict[str, list[dict]]:
    return {"seen": rows[0::2], "held out": rows[1::2], "all": rows}


def prf(pairs: list[tuple[bool, bool]]) -> tuple[float, float, int]:
    tp = sum(1 for want, got in pairs if want and got)
    fp = sum(1 for want, got in pairs if not want and got)
    fn = sum(1 for want, got in pairs if want and not got)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, len(pairs)


def merge_figures(rows: list[dict]) -> tuple[float, float, int]:
    return prf([(r["same"], places.same_problem(r["new"], r["open"])) for r in rows])


def emergency_figures(rows: list[dict]) -> tuple[float, float, int, float]:
    found = [(r["emergency"], emergency.detect(r["text"])) for r in rows]
    precision, recall, n = prf([(want is not None, got is not None) for want, got in found])
    right_kind = [got.kind == want for want, got in found if want is not None and got is not None]
    return precision, recall, n, (sum(right_kind) / len(right_kind) if right_kind else 1.0)


# The open ticket the helper who wrote followups.jsonl was told the resident has.
REPORTED = ["3栋楼道的灯坏了，晚上黑漆漆的"]


def followup_kind(text: str) -> str:
    """What the follow-up step makes of a text from a resident with that open ticket."""
    if followup.is_status_question(text, REPORTED):
        return "status"
    if followup.ADDITION.search(text):
        return "addition"
    return "new"


def figures() -> list[tuple[str, str, int, float, float]]:
    """(rule, half, n, precision, recall) for every rule and half."""
    out = []
    for half, rows in halves(read("repeat_pairs.jsonl")).items():
        p, r, n = merge_figures(rows)
        out.append(("merge (repeat pairs)", half, n, p, r))
    for half, rows in halves(read("emergencies.jsonl")).items():
        p, r, n, kind = emergency_figures(rows)
        out.append((f"emergency (right kind {kind:.3f})", half, n, p, r))
    for half, rows in halves(read("followups.jsonl")).items():
        for kind in ("status", "addition"):
            p, r, n = prf([(row["kind"] == kind, followup_kind(row["text"]) == kind) for row in rows])
            out.append((f"follow-up: {kind}", half, n, p, r))
    return out


def run() -> list[dict]:
    """Rows for `make bench` (bench/results.md)."""
    return [{"name": f"{rule}, {half}", "value": f"P {p:.3f} / R {r:.3f}", "unit": "", "note": f"n={n}"}
            for rule, half, n, p, r in figures()]


def main() -> int:
    print("| rule | half | n | precision | recall |")
    print("|---|---|---:|---:|---:|")
    for rule, half, n, p, r in figures():
        print(f"| {rule} | {half} | {n} | {p:.3f} | {r:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
