"""Ledger summaries for the weekly meeting: counts per category, group and week, overdue tickets,
tickets closed this week and residents' satisfaction. Query functions for Database.read().

They take the same Filters as the ticket list (scope included), so a summary always describes the
rows a staff member may see and has chosen.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta

from backend import clock
from backend.deadlines import mark_sql
from backend.records import FILTER_WHERE, RATINGS, Filters

WEEKS_SHOWN = 12

_LATE = "(" + mark_sql(":now_us") + " <> 'no')"  # 超期 or 督办
_TALLY = (
    "count(*) FILTER (WHERE status = 'open') AS open, count(*) FILTER (WHERE status = 'closed') AS closed,"
    " count(*) FILTER (WHERE " + _LATE + ") AS overdue"
)
COUNT_BY_CODE = "SELECT service_code AS key, " + _TALLY + " FROM requests" + FILTER_WHERE + " GROUP BY service_code"
COUNT_BY_GROUP = "SELECT group_name AS key, " + _TALLY + " FROM requests" + FILTER_WHERE + " GROUP BY group_name"
OVERVIEW = (
    "SELECT count(*) FILTER (WHERE status = 'open') AS open,"
    " count(*) FILTER (WHERE " + _LATE + ") AS overdue,"
    " count(*) FILTER (WHERE " + mark_sql(":now_us") + " = 'escalated') AS escalated,"
    " count(*) FILTER (WHERE requested_us >= :week_us) AS new_this_week,"
    " count(*) FILTER (WHERE stage = 'closed' AND closed_us >= :week_us) AS closed_this_week"
    " FROM requests" + FILTER_WHERE
)
# Days since the epoch in local time, per category; weeks are summed in Python from at most
# 7 * WEEKS_SHOWN rows per category.
COUNT_BY_CODE_AND_DAY = (
    "SELECT service_code AS code, (requested_us + :offset_us) / :us_per_day AS day, count(*) AS n"
    " FROM requests" + FILTER_WHERE + " AND requested_us >= :since_us GROUP BY service_code, day"
)
# Residents' ratings by the ticket's category: one per reporter per ticket (their last), so twenty
# ratings of one resident count once.
COUNT_RATINGS = (
    "SELECT r.service_code AS key, g.rating AS rating, count(*) AS n FROM ratings g"
    " JOIN (SELECT id, service_code FROM requests" + FILTER_WHERE + ") r ON r.id = g.request_id"
    " GROUP BY r.service_code, g.rating"
)
GROUP_NAMES = "SELECT DISTINCT group_name FROM requests WHERE group_name IS NOT NULL ORDER BY group_name"
# Groups a ticket may be assigned to: those with a grid manager, and those that have tickets.
ASSIGNABLE_GROUPS = ("SELECT group_name FROM staff_groups UNION"
                     " SELECT group_name FROM requests WHERE group_name IS NOT NULL ORDER BY 1")


@dataclass
class Tally:
    """Open, closed and overdue counts under one key (a category code or a group name)."""

    key: str
    open: int = 0
    closed: int = 0
    overdue: int = 0

    @property
    def total(self) -> int:
        return self.open + self.closed


@dataclass
class Satisfaction:
    key: str
    satisfied: int = 0
    unsatisfied: int = 0

    @property
    def total(self) -> int:
        return self.satisfied + self.unsatisfied

    @property
    def percent(self) -> int | None:
        return round(100 * self.satisfied / self.total) if self.total else None


@dataclass
class Overview:
    open: int = 0
    overdue: int = 0  # 超期 and 督办 together: every open ticket past its deadline
    escalated: int = 0
    new_this_week: int = 0
    closed_this_week: int = 0


@dataclass
class Summary:
    overview: Overview = field(default_factory=Overview)
    by_code: list[Tally] = field(default_factory=list)
    by_group: list[Tally] = field(default_factory=list)
    by_week: list[tuple[str, int]] = field(default_factory=list)  # (Monday as MM-DD, count)
    by_code_week: dict[str, list[int]] = field(default_factory=dict)  # code -> count per week
    satisfaction: list[Satisfaction] = field(default_factory=list)
    satisfaction_total: Satisfaction = field(default_factory=lambda: Satisfaction(""))
    group_names: list[str] = field(default_factory=list)


def week_start_us(now_us: int, offset_us: int) -> int:
    """Monday 00:00 of this week, local time, as UTC microseconds."""
    return _monday(now_us, offset_us) * clock.US_PER_DAY - offset_us


def summarize(conn: sqlite3.Connection, filters: Filters, now_us: int, offset_us: int) -> Summary:
    """Everything the ledger's header and charts show, read in one snapshot."""
    params = {**filters.params(), "now_us": now_us, "week_us": week_start_us(now_us, offset_us)}
    conn.execute("BEGIN")
    try:
        by_week, by_code_week = _weeks(conn, params, now_us, offset_us)
        satisfaction = _satisfaction(conn.execute(COUNT_RATINGS, params))
        summary = Summary(
            overview=Overview(**dict(conn.execute(OVERVIEW, params).fetchone())),
            by_code=_tallies(conn.execute(COUNT_BY_CODE, params)),
            by_group=_tallies(conn.execute(COUNT_BY_GROUP, params)),
            by_week=by_week,
            by_code_week=by_code_week,
            satisfaction=satisfaction,
            satisfaction_total=Satisfaction("", sum(s.satisfied for s in satisfaction),
                                            sum(s.unsatisfied for s in satisfaction)),
            group_names=_group_names(conn, filters.scope),
        )
    finally:
        conn.execute("COMMIT")
    return summary


def _group_names(conn: sqlite3.Connection, scope: list[str] | None) -> list[str]:
    """The groups to choose from: one's own (even before their first ticket), or all that have tickets."""
    if scope is not None:
        return sorted(scope)
    return [row[0] for row in conn.execute(GROUP_NAMES)]


def assignable_groups(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(ASSIGNABLE_GROUPS)]


def _tallies(rows) -> list[Tally]:
    tallies = [Tally(row["key"] or "", row["open"], row["closed"], row["overdue"]) for row in rows]
    return sorted(tallies, key=lambda t: (-t.overdue, -t.total, t.key))


def _satisfaction(rows) -> list[Satisfaction]:
    found: dict[str, Satisfaction] = {}
    for row in rows:
        entry = found.setdefault(row["key"], Satisfaction(row["key"]))
        if row["rating"] == RATINGS[0]:
            entry.satisfied += row["n"]
        else:
            entry.unsatisfied += row["n"]
    return sorted(found.values(), key=lambda s: (s.percent, -s.total, s.key))


def _monday(now_us: int, offset_us: int) -> int:
    today = (now_us + offset_us) // clock.US_PER_DAY
    # Day 0 of the epoch was a Thursday: (day + 3) % 7 is 0 on Mondays.
    return today - (today + 3) % 7


def _weeks(conn: sqlite3.Connection, params: dict, now_us: int,
           offset_us: int) -> tuple[list[tuple[str, int]], dict[str, list[int]]]:
    first_monday = _monday(now_us, offset_us) - 7 * (WEEKS_SHOWN - 1)
    since_us = first_monday * clock.US_PER_DAY - offset_us
    totals = [0] * WEEKS_SHOWN
    by_code: dict[str, list[int]] = {}
    rows = conn.execute(
        COUNT_BY_CODE_AND_DAY,
        {**params, "offset_us": offset_us, "us_per_day": clock.US_PER_DAY, "since_us": since_us},
    )
    for row in rows:
        week = (row["day"] - first_monday) // 7
        if 0 <= week < WEEKS_SHOWN:
            totals[week] += row["n"]
            by_code.setdefault(row["code"], [0] * WEEKS_SHOWN)[week] += row["n"]
    labels = [_month_day((first_monday + 7 * week) * clock.US_PER_DAY) for week in range(WEEKS_SHOWN)]
    ordered = dict(sorted(by_code.items(), key=lambda item: -sum(item[1])))
    return list(zip(labels, totals)), ordered


def _month_day(us_utc_midnight: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=us_utc_midnight // clock.US_PER_DAY)).strftime("%m-%d")
