"""When a ticket is overdue (超期) or escalated (督办): one definition for the ledger, the CSV and
the Open311 reads (`"overdue"`), so the bot judges a ticket as the ledger does.

A ticket has a deadline, its `expected_datetime`: filing time plus its category's days. An open
ticket past that deadline is overdue. Past a second deadline, as far beyond the first as the first
is from filing (requested + 2 × (expected − requested)), it is escalated: reported to an admin. A
closed or returned ticket is neither, however late it was.
"""

from __future__ import annotations

from common.status import ESCALATED, NOT_OVERDUE as NO, OVERDUE, OVERDUE_WORDS as WORDS, overdue_level

MARKS = (NO, OVERDUE, ESCALATED)
__all__ = ["ESCALATED", "MARKS", "NO", "OVERDUE", "WORDS", "escalation_us", "mark", "mark_sql"]


def escalation_us(requested_us: int, expected_us: int) -> int:
    """The second deadline: past it an open ticket is escalated (督办)."""
    return expected_us + (expected_us - requested_us)


def mark(status: str, requested_us: int, expected_us: int | None, now_us: int) -> str:
    """no, overdue or escalated, for a ticket with this Open311 status and times at `now_us`.
    Exactly at a deadline a ticket is not yet past it."""
    return overdue_level(status == "open", requested_us, expected_us, now_us)  # the bot's judgement too


def mark_sql(now: str) -> str:
    """`mark()` as an SQL expression over a requests row, with `now` the name of a parameter
    (":now_us"); for filters, counts and orders over many rows. tests/test_ledger_deadlines.py
    checks that the two agree."""
    if not (now.startswith(":") and now[1:].isidentifier()):
        raise ValueError(f"not a parameter name: {now!r}")
    return (f"(CASE WHEN status <> 'open' OR expected_us IS NULL OR {now} <= expected_us THEN '{NO}'"
            f" WHEN {now} > expected_us + (expected_us - requested_us) THEN '{ESCALATED}'"
            f" ELSE '{OVERDUE}' END)")
