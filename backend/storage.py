"""SQLite storage for service requests and their status history.

One writer thread owns the only writing connection: writes queue up and run one whole transaction
at a time, so a transaction never interleaves with another and never waits on a lock held by a
sibling connection. Reads run on their own thread and connection; WAL lets them proceed while a
write is in progress. The event loop only hands work over and awaits the result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from backend import clock
from backend.schema import migrate

REQUEST_COLUMNS = (
    "ticket, service_code, description, address_string, lat, long, media_url, group_name, reporter, "
    "message_id, status, status_notes, agency_responsible, requested_us, updated_us, expected_us"
)

# Every optional filter is a parameter that is NULL when unused: the SQL text never changes.
FILTER_WHERE = """
 WHERE (:codes IS NULL OR service_code IN (SELECT value FROM json_each(:codes)))
   AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
   AND (:groups IS NULL OR group_name IN (SELECT value FROM json_each(:groups)))
   AND (:start_us IS NULL OR requested_us >= :start_us)
   AND (:end_us IS NULL OR requested_us <= :end_us)
   AND (:overdue_at IS NULL OR (status = 'open' AND expected_us < :overdue_at))
"""
# Whole statements, composed once from the constants above; no value ever enters SQL text.
SELECT_TICKETS = (
    "SELECT " + REQUEST_COLUMNS + " FROM requests"
    " WHERE ticket IN (SELECT value FROM json_each(?)) ORDER BY requested_us"
)
SELECT_FILTERED = (
    "SELECT " + REQUEST_COLUMNS + " FROM requests" + FILTER_WHERE
    + " ORDER BY requested_us DESC LIMIT :limit OFFSET :offset"
)
COUNT_FILTERED = "SELECT count(*) FROM requests" + FILTER_WHERE


class IdempotencyConflict(Exception):
    """An Idempotency-Key came back with a different request than the one it first made."""

    def __init__(self, ticket: str):
        super().__init__(ticket)
        self.ticket = ticket


@dataclass(frozen=True)
class NewRequest:
    service_code: str
    description: str
    agency: str
    deadline_days: int
    changed_by: str
    address_string: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    group_name: str | None = None
    reporter: str | None = None
    message_id: str | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """What a replay must repeat: what the client sent, not who sent it or what config added."""
        derived = {"changed_by", "idempotency_key", "agency", "deadline_days"}
        content = {k: v for k, v in asdict(self).items() if k not in derived}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class StatusChange:
    status: str
    status_notes: str | None
    agency: str | None
    changed_by: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Filters:
    codes: list[str] | None = None
    statuses: list[str] | None = None
    groups: list[str] | None = None
    start_us: int | None = None
    end_us: int | None = None
    overdue_at: int | None = None

    def params(self) -> dict[str, Any]:
        def as_json(values: list[str] | None) -> str | None:
            return None if values is None else json.dumps(values)

        return {
            "codes": as_json(self.codes), "statuses": as_json(self.statuses),
            "groups": as_json(self.groups), "start_us": self.start_us,
            "end_us": self.end_us, "overdue_at": self.overdue_at,
        }


@dataclass(frozen=True)
class Created:
    ticket: str
    replayed: bool


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
            self._conn = _connect(self._path)
        return fn(self._conn, *args)

    async def close(self) -> None:
        def close_conn(conn: sqlite3.Connection) -> None:
            conn.close()

        if self._conn is not None:
            await self.run(close_conn)
        self._pool.shutdown(wait=True)


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE itself.
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

    async def change_status(self, ticket: str, change: StatusChange) -> dict | None:
        return await self._writer.run(self._change_status, ticket, change)

    async def get_many(self, tickets: list[str]) -> list[dict]:
        return await self._reader.run(_select_tickets, tickets)

    async def find(self, filters: Filters, limit: int, offset: int = 0) -> list[dict]:
        return await self._reader.run(_select_filtered, filters, limit, offset)

    async def count(self, filters: Filters) -> int:
        return await self._reader.run(_count_filtered, filters)

    async def history(self, ticket: str) -> list[dict]:
        return await self._reader.run(_select_history, ticket)

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a query function fn(connection, *args) on the reader thread (ledger reports)."""
        return await self._reader.run(fn, *args)

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
                " media_url, group_name, reporter, message_id, status, agency_responsible,"
                " requested_us, updated_us, expected_us, idempotency_key, fingerprint)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                (ticket, new.service_code, new.description, new.address_string, new.lat, new.long,
                 new.media_url, new.group_name, new.reporter, new.message_id, new.agency,
                 now, now, clock.add_days(now, new.deadline_days), new.idempotency_key, fingerprint),
            )
            conn.execute(
                "INSERT INTO status_history (request_id, at_us, status, status_notes,"
                " agency_responsible, changed_by) VALUES (?, ?, 'open', NULL, ?, ?)",
                (cursor.lastrowid, now, new.agency, new.changed_by),
            )
        return Created(ticket, replayed=False)

    def _change_status(self, conn: sqlite3.Connection, ticket: str, change: StatusChange) -> dict | None:
        with transaction(conn):
            row = conn.execute(
                "SELECT id, updated_us FROM requests WHERE ticket = ?", (ticket,)
            ).fetchone()
            if row is None:
                return None
            if change.idempotency_key is not None and _replayed_change(conn, row["id"], change):
                return _select_tickets(conn, [ticket])[0]
            # Strictly later than the last change even if the clock stood still or stepped back.
            at = max(clock.now_us(), row["updated_us"] + 1)
            conn.execute(
                "UPDATE requests SET status = ?, status_notes = ?,"
                " agency_responsible = COALESCE(?, agency_responsible), updated_us = ? WHERE id = ?",
                (change.status, change.status_notes, change.agency, at, row["id"]),
            )
            conn.execute(
                "INSERT INTO status_history (request_id, at_us, status, status_notes,"
                " agency_responsible, changed_by, idempotency_key)"
                " SELECT id, ?, status, status_notes, agency_responsible, ?, ? FROM requests WHERE id = ?",
                (at, change.changed_by, change.idempotency_key, row["id"]),
            )
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


def _select_tickets(conn: sqlite3.Connection, tickets: list[str]) -> list[dict]:
    rows = conn.execute(SELECT_TICKETS, (json.dumps(tickets),))
    return [dict(row) for row in rows]


def _select_filtered(conn: sqlite3.Connection, filters: Filters, limit: int, offset: int) -> list[dict]:
    rows = conn.execute(SELECT_FILTERED, {**filters.params(), "limit": limit, "offset": offset})
    return [dict(row) for row in rows]


def _count_filtered(conn: sqlite3.Connection, filters: Filters) -> int:
    return conn.execute(COUNT_FILTERED, filters.params()).fetchone()[0]


def _select_history(conn: sqlite3.Connection, ticket: str) -> list[dict]:
    rows = conn.execute(
        "SELECT h.at_us, h.status, h.status_notes, h.agency_responsible, h.changed_by"
        " FROM status_history h JOIN requests r ON r.id = h.request_id"
        " WHERE r.ticket = ? ORDER BY h.at_us, h.id",
        (ticket,),
    )
    return [dict(row) for row in rows]
