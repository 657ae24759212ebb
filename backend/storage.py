"""SQLite storage for service requests and their status history.

One writer thread owns the only writing connection: writes queue up and run one whole transaction
at a time, so a transaction never interleaves with another and never waits on a lock held by a
sibling connection. Reads run on their own thread and connection; WAL lets them proceed while a
write is in progress. The event loop only hands work over and awaits the result.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from backend import clock, history
from backend.records import (  # noqa: F401  (re-exported: the names callers know storage by)
    FILTER_WHERE, ORDERS, REQUEST_COLUMNS, Created, Filters, IdempotencyConflict, NewRequest, StatusChange,
    acted_on,
)
from backend.schema import migrate
from common.files import private_database
from common.status import RECEIVED, open311_status

SELECT_TICKETS = (
    "SELECT " + REQUEST_COLUMNS + " FROM requests"
    " WHERE ticket IN (SELECT value FROM json_each(?1))"
    " AND (?2 IS NULL OR group_name IN (SELECT value FROM json_each(?2))) ORDER BY requested_us"
)
# One whole statement per order; the order's name picks it, no value ever enters SQL text.
SELECT_FILTERED = {
    name: "SELECT " + REQUEST_COLUMNS + " FROM requests" + FILTER_WHERE + order + " LIMIT :limit OFFSET :offset"
    for name, order in ORDERS.items()
}
COUNT_FILTERED = "SELECT count(*) FROM requests" + FILTER_WHERE


class _Worker:
    """A single thread with its own connection; runs functions of (connection, *args)."""

    def __init__(self, path: Path, name: str):
        self._path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn, args)

    def _call(self, fn: Callable[..., Any], args: tuple) -> Any:
        if self._conn is None:
            self._conn = connect(self._path)
        return fn(self._conn, *args)

    async def close(self) -> None:
        def close_conn(conn: sqlite3.Connection) -> None:
            conn.close()

        if self._conn is not None:
            await self.run(close_conn)
        self._pool.shutdown(wait=True)


def connect(path: Path) -> sqlite3.Connection:
    """A connection set up as every part of the backend uses one (WAL, foreign keys, busy timeout)."""
    # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE itself.
    private_database(path)  # 0600, and so are its -wal and -shm files
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode stays consistent after a crash; only the last commits may be lost on power
    # failure, and the bot's outbox retries those with the same Idempotency-Key.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Database:
    """The backend's storage: async methods over a writer and a reader thread."""

    def __init__(self, path: Path, ticket_prefix: str, tz: ZoneInfo):
        self._writer = _Worker(path, "db-writer")
        self._reader = _Worker(path, "db-reader")
        self._prefix = ticket_prefix
        self._tz = tz

    @classmethod
    async def open(cls, path: Path | str, ticket_prefix: str, tz: ZoneInfo) -> Database:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = cls(path, ticket_prefix, tz)
        await db._writer.run(migrate)
        return db

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def create(self, new: NewRequest) -> Created:
        return await self._writer.run(self._create, new)

    async def change_status(self, ticket: str, change: StatusChange,
                            scope: list[str] | None = None) -> dict | None:
        """The ticket after the change; None when it does not exist or lies outside `scope` (groups)."""
        return await self._writer.run(self._change_status, ticket, change, scope)

    async def add_note(self, ticket: str, note: str, changed_by: str, key: str | None,
                       from_resident: bool = False) -> dict | None:
        """A note in the history (a resident's addition or reply, relayed by the bot); nothing else changes."""
        return await self._writer.run(self._add_history, ticket, None, note, changed_by, key, None, None,
                                      from_resident)

    async def change_category(self, ticket: str, code: str, agency: str, changed_by: str,
                              key: str | None, staff_id: int | None = None,
                              scope: list[str] | None = None) -> dict | None:
        """Another category, and the agency that goes with it: a staff action (from the ledger or a
        grid manager's 改类 through the bot), so a received ticket is in progress afterwards."""
        return await self._writer.run(self._add_history, ticket, (code, agency), None, changed_by, key,
                                      staff_id, scope)

    async def assign_group(self, ticket: str, group: str, changed_by: str, staff_id: int) -> dict | None:
        """Give a ticket without a group (from the hotline, the platform, the web) to a group, so that
        its grid managers see it; None when the ticket does not exist or has a group already."""
        return await self._writer.run(self._assign_group, ticket, group, changed_by, staff_id)

    def _assign_group(self, conn: sqlite3.Connection, ticket: str, group: str, changed_by: str,
                      staff_id: int) -> dict | None:
        with transaction(conn):
            row = conn.execute("SELECT id, updated_us, status, stage, agency_responsible, group_name"
                               " FROM requests WHERE ticket = ?", (ticket,)).fetchone()
            if row is None or row["group_name"] is not None:
                return None
            at = max(clock.now_us(), row["updated_us"] + 1)
            conn.execute("UPDATE requests SET group_name = ?, updated_us = ? WHERE id = ?", (group, at, row["id"]))
            history.write(conn, {
                "request_id": row["id"], "at_us": at, "status": row["status"], "from_status": row["status"],
                "stage": row["stage"], "from_stage": row["stage"], "agency_responsible": row["agency_responsible"],
                "from_agency": row["agency_responsible"], "group_name": group, "from_group": None,
                "changed_by": changed_by, "staff_id": staff_id,
            })
            return _select_tickets(conn, [ticket])[0]

    async def rate(self, ticket: str, reporter: str, rating: str, key: str | None) -> dict | None:
        return await self._writer.run(self._rate, ticket, reporter, rating, key)

    def _rate(self, conn: sqlite3.Connection, ticket: str, reporter: str, rating: str, key: str | None) -> dict | None:
        """A resident's rating: one per reporter per ticket (the last counts); the status, the staff's
        notes and the history of changes stay as they are."""
        with transaction(conn):
            row = conn.execute("SELECT id FROM requests WHERE ticket = ?", (ticket,)).fetchone()
            if row is None:
                return None
            if key is not None:
                seen = conn.execute("SELECT request_id FROM ratings WHERE idempotency_key = ?", (key,)).fetchone()
                if seen is not None:
                    if seen["request_id"] != row["id"]:
                        raise IdempotencyConflict(ticket)
                    return _select_tickets(conn, [ticket])[0]
            conn.execute("INSERT INTO ratings (request_id, reporter, rating, at_us, idempotency_key) VALUES (?,?,?,?,?)"
                         " ON CONFLICT (request_id, reporter) DO UPDATE SET rating = excluded.rating,"
                         " at_us = excluded.at_us, idempotency_key = excluded.idempotency_key",
                         (row["id"], reporter, rating, clock.now_us(), key))
            conn.execute("UPDATE requests SET rating = ? WHERE id = ?", (rating, row["id"]))
            return _select_tickets(conn, [ticket])[0]

    async def get_many(self, tickets: list[str], scope: list[str] | None = None) -> list[dict]:
        return await self._reader.run(_select_tickets, tickets, scope)

    async def find(self, filters: Filters, limit: int, offset: int = 0, order: str = "newest",
                   now_us: int | None = None) -> list[dict]:
        return await self._reader.run(_select_filtered, filters, limit, offset, order, now_us)

    async def count(self, filters: Filters) -> int:
        return await self._reader.run(_count_filtered, filters)

    async def history(self, ticket: str) -> list[dict]:
        return await self._reader.run(history.select, ticket)

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a query function fn(connection, *args) on the reader thread (ledger reports)."""
        return await self._reader.run(fn, *args)

    async def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(connection, *args) on the writer thread; fn opens its own transaction."""
        return await self._writer.run(fn, *args)

    def _create(self, conn: sqlite3.Connection, new: NewRequest) -> Created:
        fingerprint = new.fingerprint()
        with transaction(conn):
            if new.idempotency_key is not None:
                row = conn.execute(
                    "SELECT ticket, fingerprint FROM requests WHERE idempotency_key = ?",
                    (new.idempotency_key,),
                ).fetchone()
                if row is not None:
                    if row["fingerprint"] != fingerprint:
                        raise IdempotencyConflict(row["ticket"])
                    return Created(row["ticket"], replayed=True)
            now = clock.now_us()
            day = clock.local_day(now, self._tz)
            number = conn.execute(
                "INSERT INTO daily_counters (day, last) VALUES (?, 1)"
                " ON CONFLICT (day) DO UPDATE SET last = last + 1 RETURNING last",
                (day,),
            ).fetchone()[0]
            ticket = f"{self._prefix}{day}-{number:04d}"
            cursor = conn.execute(
                "INSERT INTO requests (ticket, service_code, description, address_string, lat, long,"
                " media_url, group_name, reporter, message_id, status, stage, agency_responsible,"
                " requested_us, updated_us, expected_us, idempotency_key, fingerprint, source)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket, new.service_code, new.description, new.address_string, new.lat, new.long,
                 new.media_url, new.group_name, new.reporter, new.message_id, open311_status(RECEIVED), RECEIVED,
                 new.agency, now, now, clock.add_days(now, new.deadline_days), new.idempotency_key, fingerprint,
                 new.source),
            )
            history.write(conn, {"request_id": cursor.lastrowid, "at_us": now, "status": open311_status(RECEIVED),
                                 "stage": RECEIVED, "agency_responsible": new.agency, "changed_by": new.changed_by})
        return Created(ticket, replayed=False)

    def _change_status(self, conn: sqlite3.Connection, ticket: str, change: StatusChange,
                       scope: list[str] | None) -> dict | None:
        with transaction(conn):
            row = conn.execute(
                "SELECT id, updated_us, status, stage, agency_responsible, group_name FROM requests WHERE ticket = ?",
                (ticket,),
            ).fetchone()
            if row is None or (scope is not None and row["group_name"] not in scope):
                return None
            if change.idempotency_key is not None and _replayed_change(conn, row["id"], change):
                return _select_tickets(conn, [ticket])[0]
            # Strictly later than the last change even if the clock stood still or stepped back.
            at = max(clock.now_us(), row["updated_us"] + 1)
            history.record_change(conn, row, change, at)
            return _select_tickets(conn, [ticket])[0]

    def _add_history(self, conn: sqlite3.Connection, ticket: str, category: tuple[str, str] | None,
                     note: str | None, changed_by: str, key: str | None, staff_id: int | None = None,
                     scope: list[str] | None = None, from_resident: bool = False) -> dict | None:
        """A note, or a category change, in the history; the status and the staff's notes stay."""
        with transaction(conn):
            row = conn.execute("SELECT id, updated_us, status, stage, agency_responsible, group_name, service_code"
                               " FROM requests WHERE ticket = ?", (ticket,)).fetchone()
            if row is None or (scope is not None and row["group_name"] not in scope):
                return None
            if key is not None:
                seen = conn.execute("SELECT h.request_id, r.ticket FROM status_history h JOIN requests r"
                                    " ON r.id = h.request_id WHERE h.idempotency_key = ?", (key,)).fetchone()
                if seen is not None:
                    if seen["request_id"] != row["id"]:
                        raise IdempotencyConflict(seen["ticket"])
                    return _select_tickets(conn, [ticket])[0]
            at = max(clock.now_us(), row["updated_us"] + 1)
            entry = {"request_id": row["id"], "at_us": at, "status": row["status"], "from_status": row["status"],
                     "stage": row["stage"], "from_stage": row["stage"], "status_notes": note,
                     "agency_responsible": row["agency_responsible"], "from_agency": row["agency_responsible"],
                     "service_code": row["service_code"], "from_service_code": row["service_code"],
                     "changed_by": changed_by, "idempotency_key": key, "staff_id": staff_id,
                     "from_resident": int(from_resident)}
            if category is not None:
                code, agency = category
                if code == row["service_code"]:
                    return _select_tickets(conn, [ticket])[0]
                entry.update(service_code=code, agency_responsible=agency, stage=acted_on(row["stage"]))
                conn.execute("UPDATE requests SET service_code = ?, agency_responsible = ?, stage = ?, updated_us = ?"
                             " WHERE id = ?", (code, agency, entry["stage"], at, row["id"]))
            history.write(conn, entry)
            return _select_tickets(conn, [ticket])[0]


def _replayed_change(conn: sqlite3.Connection, request_id: int, change: StatusChange) -> bool:
    row = conn.execute(
        "SELECT h.request_id, r.ticket FROM status_history h JOIN requests r ON r.id = h.request_id"
        " WHERE h.idempotency_key = ?",
        (change.idempotency_key,),
    ).fetchone()
    if row is None:
        return False
    if row["request_id"] != request_id:
        raise IdempotencyConflict(row["ticket"])
    return True


def _select_tickets(conn: sqlite3.Connection, tickets: list[str], scope: list[str] | None = None) -> list[dict]:
    rows = conn.execute(SELECT_TICKETS, (json.dumps(tickets), None if scope is None else json.dumps(scope)))
    return [dict(row) for row in rows]


def _select_filtered(conn: sqlite3.Connection, filters: Filters, limit: int, offset: int, order: str,
                     now_us: int | None) -> list[dict]:
    params = {**filters.params(), "limit": limit, "offset": offset, "now_us": now_us or clock.now_us()}
    return [dict(row) for row in conn.execute(SELECT_FILTERED[order], params)]


def _count_filtered(conn: sqlite3.Connection, filters: Filters) -> int:
    return conn.execute(COUNT_FILTERED, filters.params()).fetchone()[0]
