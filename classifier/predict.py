"""Streaming prediction over JSON Lines: every input key is kept, label and confidence are added."""

from __future__ import annotations

import json
from typing import Callable, Iterable, TextIO

from classifier.corpus import NONE, iter_jsonl


def predict_stream(model, src: Iterable[str], dst: TextIO, warn: Callable[[str], None],
                   batch_size: int = 2000) -> dict:
    """Read lines from src, write labelled lines to dst in input order; returns counts.

    Bad lines are reported through `warn` with their line number and skipped; empty or
    non-string text is written with label `none` rather than stopping the run.
    """
    stats = {"written": 0, "skipped": 0, "empty": 0}
    batch: list[dict] = []

    def flush() -> None:
        texts = [row["text"] for row in batch if _usable(row)]
        predictions = iter(model.predict(texts))
        for row in batch:
            if _usable(row):
                row["label"], confidence = next(predictions)
                row["confidence"] = round(confidence, 6)
            else:
                row["label"], row["confidence"] = NONE, 1.0
            dst.write(json.dumps(row, ensure_ascii=False) + "\n")
        stats["written"] += len(batch)
        batch.clear()

    for number, row, error in iter_jsonl(src):
        if error:
            warn(f"line {number}: {error}; skipped")
            stats["skipped"] += 1
            continue
        if not _usable(row):
            warn(f"line {number}: 'text' is missing, empty or not a string; labelled none")
            stats["empty"] += 1
        batch.append(row)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    dst.flush()
    return stats


def _usable(row: dict) -> bool:
    text = row.get("text")
    return isinstance(text, str) and bool(text.strip())
