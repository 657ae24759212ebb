"""The bot's local queue and cache on SQLite (aiosqlite, WAL): messages, tickets, outbox, replies,
decisions. Every state change is one explicit transaction, so a crash leaves either the old or the
new state, never half of one. The tracking backend stays the system of record."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable

import aiosqlite

from bot.messages import IncomingMessage, Reply
from common.files import private_database

SCHEMA_VERSION = 6

# Message states: where each message is on its way; FINAL ones are never processed again.
RECEIVED, CLASSIFIED, IGNORED, AWAITING, QUEUED, TICKETED, ANSWERED = (
    "received", "classified", "ignored", "awaiting", "queued", "ticketed", "answered")
FINAL = (IGNORED, ANSWERED)

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        group_id TEXT, group_name TEXT,
        sender_id TEXT NOT NULL, sender_name TEXT NOT NULL,
        text TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'text', media_url TEXT,
        mentions TEXT NOT NULL DEFAULT '[]', in_group INTEGER NOT NULL,
        sent_at TEXT NOT NULL, received_at TEXT NOT NULL,
        state TEXT NOT NULL, label TEXT, confidence REAL, ticket_id INTEGER, note TEXT
    );
    CREATE INDEX messages_unfinished ON messages(state) WHERE state NOT IN ('ignored', 'answered');
    CREATE INDEX messages_sender ON messages(sender_id, group_name, id);
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        message_key TEXT NOT NULL UNIQUE REFERENCES messages(key),
        group_id TEXT, group_name TEXT NOT NULL,
        reporter_id TEXT NOT NULL, reporter_name TEXT NOT NULL,
        category TEXT NOT NULL, description TEXT NOT NULL, confidence REAL,
        state TEXT NOT NULL,
        service_request_id TEXT UNIQUE, status TEXT, status_notes TEXT, agency TEXT,
        updated_datetime TEXT, expected_datetime TEXT, media_url TEXT,
        rating TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE INDEX tickets_open ON tickets(group_name, category, state);
    CREATE INDEX tickets_reporter ON tickets(reporter_id, created_at);
    CREATE TABLE ticket_reporters (
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        message_key TEXT NOT NULL UNIQUE,
        reporter_id TEXT NOT NULL, reporter_name TEXT NOT NULL,
        group_id TEXT, group_name TEXT NOT NULL, joined_at TEXT NOT NULL
    );
    CREATE INDEX ticket_reporters_ticket ON ticket_reporters(ticket_id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        kind TEXT NOT NULL, payload TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT, done_at TEXT, failed_at TEXT, created_at TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE done_at IS NULL AND failed_at IS NULL;
    CREATE TABLE replies (
        id INTEGER PRIMARY KEY,
        message_key TEXT, group_id TEXT, group_name TEXT, to_id TEXT, to_name TEXT,
        text TEXT NOT NULL, ticket TEXT, created_at TEXT NOT NULL, sent_at TEXT
    );
    CREATE INDEX replies_unsent ON replies(id) WHERE sent_at IS NULL;
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        message_key TEXT NOT NULL, ticket_id INTEGER, text TEXT NOT NULL, label TEXT NOT NULL,
        action TEXT NOT NULL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL
    );
    """,
    # A reply the channel refuses for a day (the bot left the room) is given up, not retried forever.
    2: """
    ALTER TABLE replies ADD COLUMN failed_at TEXT;
    ALTER TABLE replies ADD COLUMN last_error TEXT;
    DROP INDEX replies_unsent;
    CREATE INDEX replies_unsent ON replies(id) WHERE sent_at IS NULL AND failed_at IS NULL;
    """,
    # 3: a conversation, not single messages. A ticket keeps where it is (`place`), when its first
    # report was sent (`sent_at`, UTC: windows are measured in the residents' time, not ours), an
    # emergency's kind, and when the bot asked for a missing place; residents' additions are notes.
    3: """
    ALTER TABLE tickets ADD COLUMN place TEXT;
    ALTER TABLE tickets ADD COLUMN sent_at TEXT;
    ALTER TABLE tickets ADD COLUMN emergency TEXT;
    ALTER TABLE tickets ADD COLUMN asked_at TEXT;
    CREATE TABLE ticket_notes (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        message_key TEXT NOT NULL UNIQUE,
        text TEXT NOT NULL, sent_at TEXT NOT NULL
    );
    CREATE INDEX ticket_notes_ticket ON ticket_notes(ticket_id);
    CREATE INDEX tickets_asking ON tickets(state) WHERE state = 'asking';
    """,
    # 4: a monitored group is the room first seen with its name, not whoever has that name.
    4: """
    CREATE TABLE rooms (name TEXT PRIMARY KEY, room_id TEXT NOT NULL, pinned_at TEXT NOT NULL);
    CREATE TABLE room_conflicts (name TEXT NOT NULL, room_id TEXT NOT NULL, first_seen TEXT NOT NULL,
                                 PRIMARY KEY (name, room_id));
    """,
    # 5: the grid manager's day. The items of a morning digest keep their numbers (「对 3」 means what
    # the digest said), a digest and a 督办 reminder go out once a day, a ticket keeps the backend's
    # stage (已受理/处理中/已办结/已退回), and notes for residents are relayed from a cursor (meta).
    5: """
    CREATE TABLE digest_items (
        manager_id TEXT NOT NULL, day TEXT NOT NULL, n INTEGER NOT NULL,
        message_key TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
        PRIMARY KEY (manager_id, day, n)
    );
    CREATE TABLE digests_sent (manager_id TEXT NOT NULL, day TEXT NOT NULL, sent_at TEXT NOT NULL,
                               PRIMARY KEY (manager_id, day));
    CREATE TABLE reminders (ticket_id INTEGER NOT NULL, day TEXT NOT NULL, level TEXT NOT NULL,
                            to_id TEXT NOT NULL, PRIMARY KEY (ticket_id, day, level, to_id));
    ALTER TABLE tickets ADD COLUMN stage TEXT;
    CREATE INDEX messages_sent ON messages(group_name, sent_at);
    """,
    # 6: every channel heard. A message keeps its source (wechat, hotline, platform, web) and what a
    # report form gives besides the text (place, phone), so a resumed message is the same message.
    6: """
    ALTER TABLE messages ADD COLUMN source TEXT NOT NULL DEFAULT 'wechat';
    ALTER TABLE messages ADD COLUMN extra TEXT;
    ALTER TABLE tickets ADD COLUMN source TEXT NOT NULL DEFAULT 'wechat';
    """,
}


def _utc(when: datetime) -> str:
    """Message times are stored in UTC, so that windows and days compare as strings."""
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat()


def _extra(msg: IncomingMessage) -> str | None:
    extra = {k: v for k, v in (("place", msg.place), ("phone", msg.phone)) if v}
    return json.dumps(extra, ensure_ascii=False) if extra else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StoreError(RuntimeError):
    """The store cannot take work (disk full, read-only file, corrupt database)."""


class Store:
    """One aiosqlite connection; writes are serialized and each is one transaction."""

    def __init__(self, db: aiosqlite.Connection, path: Path):
        self.db, self.path = db, path
        self._write_lock = asyncio.Lock()
        self._rooms: dict[str, str] = {}  # group name -> pinned room id, as read or written

    @classmethod
    async def open(cls, path: Path | str) -> "Store":
        path = Path(path)
        try:
            private_database(path)  # 0600, and so are its -wal and -shm files
            db = await aiosqlite.connect(path, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: cannot open the bot's store ({exc})") from exc
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            store = cls(db, path)
            await store._migrate()
        except BaseException as exc:
            await db.close()  # its thread would otherwise keep the process alive after the error
            if isinstance(exc, (sqlite3.Error, OSError)):
                raise StoreError(f"{path}: cannot open the bot's store ({exc})") from exc
            raise
        return store

    async def close(self) -> None:
        await self.db.close()

    async def _migrate(self) -> None:
        version = (await (await self.db.execute("PRAGMA user_version")).fetchone())[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version} is newer than this bot ({SCHEMA_VERSION})")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            async with self.transaction() as db:
                for statement in _statements(MIGRATIONS[target]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version={target}")
        async with self.transaction() as db:
            await db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('reporter_salt', ?)",
                             (secrets.token_hex(16),))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; disk problems become StoreError."""
        async with self._write_lock:
            try:
                await self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot write ({exc})") from exc
            try:
                yield self.db
                await self.db.execute("COMMIT")
            except BaseException as exc:
                try:
                    await self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self.path}: write failed ({exc})") from exc
                raise

    async def one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        return await (await self.db.execute(sql, tuple(params))).fetchone()

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await (await self.db.execute(sql, tuple(params))).fetchall())

    async def meta(self, key: str) -> str | None:
        row = await self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    @staticmethod
    async def _set_meta(db, key: str, value: str | None) -> None:
        """Set (or, with None, delete) a meta value inside a caller's transaction."""
        if value is None:
            await db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            await db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
                             " value = excluded.value", (key, value))

    # -- messages -------------------------------------------------------------------------

    async def insert_message(self, msg: IncomingMessage) -> tuple[aiosqlite.Row, bool]:
        """Store a message before anything else happens to it; (row, False) for a repeat event."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO messages (key, group_id, group_name, sender_id, sender_name, text,"
                " kind, media_url, mentions, in_group, sent_at, received_at, state, source, extra)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (msg.message_id, msg.group_id, msg.group_name, msg.sender_id, msg.sender_name, msg.text,
                 msg.kind, msg.media_url, json.dumps(list(msg.mentions), ensure_ascii=False),
                 int(msg.in_group), _utc(msg.time), now_iso(), RECEIVED, msg.source, _extra(msg)))
            is_new = cur.rowcount == 1
        return await self.message(msg.message_id), is_new

    async def message(self, key: str) -> aiosqlite.Row | None:
        return await self.one("SELECT * FROM messages WHERE key = ?", (key,))

    async def set_state(self, key: str, state: str, **fields: Any) -> None:
        async with self.transaction() as db:
            await self._set_state(db, key, state, **fields)

    @staticmethod
    async def _set_state(db, key: str, state: str, **fields: Any) -> None:
        allowed = {"label", "confidence", "ticket_id", "note"}
        cols = ["state = ?"] + [f"{name} = ?" for name in fields if name in allowed]
        values = [state] + [v for name, v in fields.items() if name in allowed]
        await db.execute(f"UPDATE messages SET {', '.join(cols)} WHERE key = ?", (*values, key))

    async def unfinished_messages(self) -> list[aiosqlite.Row]:
        return await self.all("SELECT * FROM messages WHERE state IN (?, ?) ORDER BY id", (RECEIVED, CLASSIFIED))

    # -- rooms: a group name is pinned to the first room seen with it ------------------------

    async def room_for(self, name: str, room_id: str, report: Callable[[], list[Reply]]) -> bool:
        """Whether `room_id` is the room pinned to `name` (pinning it on first sight). Another room
        with the name is refused; the first time it is seen, what `report()` says goes out (to the admins)."""
        if self._rooms.get(name) == room_id:
            return True  # the usual case, without a write per message
        async with self.transaction() as db:
            row = await (await db.execute("SELECT room_id FROM rooms WHERE name = ?", (name,))).fetchone()
            if row is None:
                await db.execute("INSERT INTO rooms (name, room_id, pinned_at) VALUES (?,?,?)", (name, room_id, now_iso()))
                self._rooms[name] = room_id
                return True
            if row["room_id"] == room_id:
                self._rooms[name] = room_id
                return True
            cur = await db.execute("INSERT OR IGNORE INTO room_conflicts (name, room_id, first_seen) VALUES (?,?,?)",
                                   (name, room_id, now_iso()))
            if cur.rowcount == 1:
                for reply in report():
                    await self._queue_reply(db, reply, None)
            return False

    async def unpin_room(self, name: str) -> bool:
        self._rooms.pop(name, None)
        async with self.transaction() as db:
            cur = await db.execute("DELETE FROM rooms WHERE name = ?", (name,))
            await db.execute("DELETE FROM room_conflicts WHERE name = ?", (name,))
            return cur.rowcount == 1

    # -- replies: a durable queue, so an answer survives a crash between deciding and sending --

    @staticmethod
    async def _queue_reply(db, reply: Reply, message_key: str | None) -> None:
        await db.execute(
            "INSERT INTO replies (message_key, group_id, group_name, to_id, to_name, text, ticket, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (message_key, reply.group_id, reply.group_name, reply.to_id, reply.to_name, reply.text,
             reply.ticket, now_iso()))

    async def finish(self, key: str, state: str, replies: list[Reply] = (), **fields: Any) -> None:
        """Move a message to `state` and queue its replies in the same transaction."""
        async with self.transaction() as db:
            for reply in replies:
                await self._queue_reply(db, reply, key)
            await self._set_state(db, key, state, **fields)

    async def queue_replies(self, replies: list[Reply], message_key: str | None = None) -> None:
        async with self.transaction() as db:
            for reply in replies:
                await self._queue_reply(db, reply, message_key)

    async def unsent_replies(self, limit: int = 500) -> list[aiosqlite.Row]:
        return await self.all("SELECT * FROM replies WHERE sent_at IS NULL AND failed_at IS NULL"
                              " ORDER BY id LIMIT ?", (limit,))

    async def give_up_reply(self, reply_id: int, error: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE replies SET failed_at = ?, last_error = ? WHERE id = ?",
                             (now_iso(), error[:500], reply_id))

    async def mark_sent(self, reply_id: int) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE replies SET sent_at = ? WHERE id = ?", (now_iso(), reply_id))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
