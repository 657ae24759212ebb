"""超期 and 督办: an open ticket past its expected_datetime is overdue; past requested + 2 × (expected −
requested) it is escalated. One definition (backend/deadlines.py) behind the Open311 reads
(`"overdue"`), the ledger's marks, filter, counts and order, and the CSV's 是否超期."""

from __future__ import annotations

import re
import sqlite3

import pytest

from backend import clock, deadlines
from tests.backend_fixtures import unique
from tests.test_ledger import close, file, read_csv, ticket_rows

DAY = clock.US_PER_DAY
MINUTE = 60_000_000
T0 = 1_790_000_000_000_000  # a filing time; the deadline is one day later
EXPECTED, ESCALATION = T0 + DAY, T0 + 2 * DAY


@pytest.mark.parametrize("status, now, shown", [
    ("open", T0, "no"),
    ("open", EXPECTED, "no"),                 # at the deadline: not yet past it
    ("open", EXPECTED + 1, "overdue"),
    ("open", ESCALATION, "overdue"),          # at the second deadline: not yet past it
    ("open", ESCALATION + 1, "escalated"),
    ("open", ESCALATION + 30 * DAY, "escalated"),
    ("closed", ESCALATION + 1, "no"),         # closed or returned: never late
])
def test_marks_at_the_boundaries(status, now, shown):
    assert deadlines.mark(status, T0, EXPECTED, now) == shown
    assert deadlines.escalation_us(T0, EXPECTED) == ESCALATION


def test_a_ticket_without_a_deadline_is_never_late():
    assert deadlines.mark("open", T0, None, ESCALATION + DAY) == "no"


def test_the_sql_judges_every_ticket_as_the_function_does():
    """The ledger filters and counts in SQLite; its expression must agree with deadlines.mark()."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE requests (status TEXT, requested_us INTEGER, expected_us INTEGER)")
    rows = [(status, T0, expected) for status in ("open", "closed") for expected in (EXPECTED, T0 + 7 * DAY, None)]
    conn.executemany("INSERT INTO requests VALUES (?, ?, ?)", rows)
    instants = [T0, EXPECTED - 1, EXPECTED, EXPECTED + 1, ESCALATION - 1, ESCALATION, ESCALATION + 1,
                T0 + 7 * DAY + 1, T0 + 14 * DAY, T0 + 14 * DAY + 1]
    for now in instants:
        found = conn.execute("SELECT status, requested_us, expected_us, " + deadlines.mark_sql(":now")
                             + " FROM requests", {"now": now}).fetchall()
        for status, requested, expected, judged in found:
            assert judged == deadlines.mark(status, requested, expected, now), (status, expected, now)
    with pytest.raises(ValueError):
        deadlines.mark_sql("now_us; DROP TABLE requests")


def set_times(db_path, ticket: str, requested_us: int, expected_us: int) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE requests SET requested_us = ?, expected_us = ? WHERE ticket = ?",
                     (requested_us, expected_us, ticket))


@pytest.fixture
def late_tickets(ledger_admin, tracking_backend):
    """Five tickets of one group: on time, overdue, just short of escalation, escalated, and an
    escalated one that was closed. A minute either side of the deadlines the server judges at."""
    http, group = ledger_admin, unique("景湖名都业主群")
    now = clock.now_us()
    times = {
        "on_time": (now - DAY + MINUTE, now + MINUTE),           # deadline a minute away
        "overdue": (now - DAY - MINUTE, now - MINUTE),           # a minute past it
        "nearly": (now - 2 * DAY + MINUTE, now - DAY + MINUTE),  # second deadline a minute away
        "escalated": (now - 2 * DAY - MINUTE, now - DAY - MINUTE),  # a minute past the second
        "closed": (now - 9 * DAY, now - 8 * DAY),
    }
    made = {}
    for name, (requested, expected) in times.items():
        made[name] = file(http, group, "fire", f"楼道堆放杂物（{name}）")
        set_times(tracking_backend.db_path, made[name], requested, expected)
    close(http, made["closed"], "已清理")
    return http, group, made


def test_open311_reads_say_whether_a_ticket_is_overdue_or_escalated(late_tickets):
    http, _, made = late_tickets
    expected = {"on_time": "no", "overdue": "overdue", "nearly": "overdue", "escalated": "escalated", "closed": "no"}
    found = {r["service_request_id"]: r["overdue"] for r in http.get(
        "/requests.json", params={"service_request_id": ",".join(made.values())}).json()}
    assert found == {made[name]: mark for name, mark in expected.items()}
    assert http.get(f"/requests/{made['escalated']}.json").json()[0]["overdue"] == "escalated"


def test_the_ledger_marks_filters_counts_and_orders_late_tickets(late_tickets):
    http, group, made = late_tickets
    page = http.get("/", params={"group": group}).text
    assert ticket_rows(page)[:3] == [made["escalated"], made["nearly"], made["overdue"]]
    marks = dict(re.findall(r'<tr data-ticket="([^"]+)" data-overdue="(\w+)"', page))
    assert marks == {made["on_time"]: "no", made["overdue"]: "overdue", made["nearly"]: "overdue",
                     made["escalated"]: "escalated", made["closed"]: "no"}
    row = page[page.index(f'data-ticket="{made["escalated"]}"'):]
    assert '<span class="mark mark-escalated">督办</span>' in row[:row.index("</tr>")]
    row = page[page.index(f'data-ticket="{made["overdue"]}"'):]
    assert '<span class="mark mark-overdue">超期</span>' in row[:row.index("</tr>")]
    assert re.search(r'id="count-overdue">3<', page) and re.search(r'id="count-escalated">1<', page)

    def listed(overdue: str) -> set[str]:
        return set(ticket_rows(http.get("/", params={"group": group, "overdue": overdue}).text))

    assert listed("escalated") == {made["escalated"]}
    assert listed("overdue") == {made["overdue"], made["nearly"]}
    assert listed("no") == {made["on_time"], made["closed"]}
    assert len(listed("anything")) == 5  # an unknown choice is no filter

    header, *rows = read_csv(http.get("/ledger.csv", params={"group": group}))
    assert {row[0]: row[header.index("是否超期")] for row in rows} == {
        made["on_time"]: "否", made["overdue"]: "超期", made["nearly"]: "超期", made["escalated"]: "督办",
        made["closed"]: "否"}
    escalated_only = read_csv(http.get("/ledger.csv", params={"group": group, "overdue": "escalated"}))
    assert [row[0] for row in escalated_only[1:]] == [made["escalated"]]


def test_the_ticket_page_shows_the_mark_and_the_second_deadline(late_tickets):
    http, _, made = late_tickets
    page = http.get(f"/tickets/{made['escalated']}").text
    assert re.search(r'id="ticket-mark">督办<', page)
    assert "督办期限" in page and "超期一倍仍未办结，列入督办" in page
    page = http.get(f"/tickets/{made['overdue']}").text
    assert re.search(r'id="ticket-mark">超期<', page) and "列入督办" not in page
    assert 'id="ticket-mark"' not in http.get(f"/tickets/{made['on_time']}").text
