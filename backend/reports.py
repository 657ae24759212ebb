"""Ledger summaries: counts per category, group and week. Query functions for Database.read().

They take the same Filters as the ticket list, so a summary always describes the rows shown.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta

from backend import clock
from backend.storage import FILTER_WHERE, Filters

WEEKS_SHOWN = 12

COUNT_BY_CODE = (
    "SELECT service_code AS key, status, count(*) AS n FROM requests" + FILTER_WHERE
    + " GROUP BY service_code, status"
)
COUNT_BY_GROUP = (
    "SELECT group_name AS key, status, count(*) AS n FROM requests" + FILTER_WHERE
    + " GROUP BY group_name, status"
)
# Days since the epoch in local time; weeks are summed in Python from at most 7 * WEEKS_SHOWN rows.
COUNT_BY_DAY = (
    "SELECT (requested_us + :offset_us) / :us_per_day AS day, count(*) AS n FROM requests"
    + FILTER_WHERE + " AND requested_us >= :since_us GROUP BY day"
)
GROUP_NAMES = "SELECT DISTINCT group_name FROM requests WHERE group_name IS NOT NULL ORDER BY group_name"


@dataclass
class Tally:
    """Open and closed counts under one key (a category code or a group name)."""

    key: str
    open: int = 0
    closed: int = 0

    @property
    def total(self) -> int:
        return self.open + self.closed


@dataclass
class Summary:
    by_code: list[Tally] = field(default_factory=list)
    by_group: list[Tally] = field(default_factory=list)
    by_week: list[tuple[str, int]] = field(default_factory=list)  # (Monday as MM-DD, count)
    group_names: list[str] = field(default_factory=list)


def summarize(conn: sqlite3.Connection, filters: Filters, now_us: int, offset_us: int) -> Summary:
    """Everything the ledger's header and charts show, read in one snapshot."""
    params = filters.params()
    conn.execute("BEGIN")
    try:
        summary = Summary(
            by_code=_tallies(conn.execute(COUNT_BY_CODE, params)),
            by_group=_tallies(conn.execute(COUNT_BY_GROUP, params)),
            by_week=_weeks(conn, params, now_us, offset_us),
            group_names=[row[0] for row in conn.execute(GROUP_NAMES)],
        )
    finally:
        conn.execute("COMMIT")
    return summary


def _tallies(rows) -> list[Tally]:
    tallies: dict[str, Tally] = {}
    for row in rows:
        tally = tallies.setdefault(row["key"] or "", Tally(row["key"] or ""))
        setattr(tally, row["status"], row["n"])
    return sorted(tallies.values(), key=lambda t: (-t.total, t.key))


def _weeks(conn: sqlite3.Connection, params: dict, now_us: int, offset_us: int) -> list[tuple[str, int]]:
    today = (now_us + offset_us) // clock.US_PER_DAY
    # Day 0 of the epoch was a Thursday: (day + 3) % 7 is 0 on Mondays.
    this_monday = today - (today + 3) % 7
    first_monday = this_monday - 7 * (WEEKS_SHOWN - 1)
    since_us = first_monday * clock.US_PER_DAY - offset_us
    counts = [0] * WEEKS_SHOWN
    rows = conn.execute(
        COUNT_BY_DAY,
        {**params, "offset_us": offset_us, "us_per_day": clock.US_PER_DAY, "since_us": since_us},
    )
    for row in rows:
        week = (row["day"] - first_monday) // 7
        if 0 <= week < WEEKS_SHOWN:
            counts[week] += row["n"]
    labels = [
        _month_day((first_monday + 7 * week) * clock.US_PER_DAY)
        for week in range(WEEKS_SHOWN)
    ]
    return list(zip(labels, counts))


def _month_day(us_utc_midnight: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=us_utc_midnight // clock.US_PER_DAY)).strftime("%m-%d")
