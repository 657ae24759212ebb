"""Grid managers' decisions, read from the bot's SQLite store as labelled examples."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from classifier.corpus import DataError, Example, labels


def read_feedback(store_path: Path | str) -> list[Example]:
    """Every stored decision (confirm, reject, re-categorize) as an Example, oldest first.

    The latest decision about a message wins, so a manager who corrects themselves is heard once.
    """
    path = Path(store_path)
    if not path.exists():
        raise DataError(f"{path}: no such store")
    allowed = set(labels())
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT text, label FROM decisions WHERE id IN "
                "(SELECT MAX(id) FROM decisions GROUP BY message_key) ORDER BY id"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot read decisions ({exc})") from exc
    return [Example(text, label) for text, label in rows if label in allowed and text and text.strip()]
