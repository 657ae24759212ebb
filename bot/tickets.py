"""Ticket rows of the bot's store: local numbers, the outbox that carries them to the backend,
merged reporters, residents' ratings and grid managers' decisions."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import aiosqlite

from bot.messages import Reply
from bot.store import ANSWERED, AWAITING, IGNORED, QUEUED, TICKETED, Store, now_iso

# Ticket states in the bot's store.
T_ASKING, T_AWAITING, T_QUEUED, T_OPEN, T_CLOSED, T_REJECTED, T_FAILED = (
    "asking", "awaiting", "queued", "open", "closed", "rejected", "failed")
LIVE = (T_ASKING, T_AWAITING, T_QUEUED, T_OPEN)


@dataclass(frozen=True)
class NewTicket:
    message_key: str
    group_id: str | None
    group_name: str
    reporter_id: str
    reporter_name: str
    category: str
    description: str
    confidence: float
    media_url: str | None = None
    place: str | None = None          # the place the report names (3栋2单元), None when it names none
    sent_at: str | None = None        # when the resident sent it (UTC ISO)
    emergency: str | None = None      # fire, gas, injury, trapped, collapse, flood, crime
    source: str = "wechat"            # wechat, hotline, platform, web


def reporter_token(salt: str, wechat_id: str) -> str:
    """An opaque, stable reporter id for the backend: a resident's WeChat id never leaves the bot."""
    return "r-" + hmac.new(salt.encode(), wechat_id.encode(), hashlib.sha256).hexdigest()[:16]


async def open_ticket(store: Store, t: NewTicket, awaiting: bool | str, payload: dict | None,
                      replies: Callable[[int], list[Reply]] = lambda _id: [], absorbed: tuple[str, ...] = (),
                      note: str | None = None) -> int:
    """Write the ticket row, and (unless it waits for a manager or a place) its outbox row, in one
    transaction. `awaiting` is False (send now), True (a manager decides) or T_ASKING (the resident
    is asked where). `absorbed` are earlier fragments of the same report, now part of this ticket;
    `note` says on the message why it waits (rate limited, unknown group)."""
    stamp = now_iso()
    state = T_ASKING if awaiting == T_ASKING else T_AWAITING if awaiting else T_QUEUED
    async with store.transaction() as db:
        cur = await db.execute(
            "INSERT INTO tickets (message_key, group_id, group_name, reporter_id, reporter_name, category,"
            " description, confidence, state, media_url, created_at, updated_at, place, sent_at, emergency,"
            " asked_at, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (t.message_key, t.group_id, t.group_name, t.reporter_id, t.reporter_name, t.category,
             t.description, t.confidence, state, t.media_url, stamp, stamp, t.place, t.sent_at or stamp,
             t.emergency, (t.sent_at or stamp) if state == T_ASKING else None, t.source))
        ticket_id = cur.lastrowid
        for key in absorbed:
            await store._set_state(db, key, IGNORED, ticket_id=ticket_id, note=f"part of {t.message_key}")
        await db.execute(
            "INSERT INTO ticket_reporters (ticket_id, message_key, reporter_id, reporter_name, group_id,"
            " group_name, joined_at) VALUES (?,?,?,?,?,?,?)",
            (ticket_id, t.message_key, t.reporter_id, t.reporter_name, t.group_id, t.group_name, stamp))
        if not awaiting:
            await _enqueue(db, ticket_id, "create", payload, t.message_key)
        for reply in replies(ticket_id):  # the local number is known only once the row exists
            await store._queue_reply(db, reply, t.message_key)
        await store._set_state(db, t.message_key, QUEUED if state == T_QUEUED else AWAITING, ticket_id=ticket_id,
                               **({"note": note} if note else {}))
    return ticket_id


async def place_given(store: Store, ticket_id: int, place: str, answer_key: str, payload: dict | None,
                      replies: list[Reply]) -> None:
    """The resident said where (or the wait ended): the ticket gets its place and moves on, to the
    backend (`payload`) or, without one, to its grid manager."""
    async with store.transaction() as db:
        row = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        if row is None or row["state"] != T_ASKING:
            return
        state = T_QUEUED if payload is not None else T_AWAITING
        await db.execute("UPDATE tickets SET state = ?, place = ?, updated_at = ? WHERE id = ?",
                         (state, place, now_iso(), ticket_id))
        if payload is not None:
            await _enqueue(db, ticket_id, "create", payload, row["message_key"])
            await store._set_state(db, row["message_key"], QUEUED)
        if answer_key != row["message_key"]:
            await store._set_state(db, answer_key, ANSWERED, ticket_id=ticket_id, note="place given")
        for reply in replies:
            await store._queue_reply(db, reply, answer_key)


async def asking(store: Store, chat: tuple[str | None, str], since: str) -> aiosqlite.Row | None:
    """The sender's ticket that waits for a place in this chat (group id, sender id), asked since `since`."""
    group_id, sender_id = chat
    return await store.one("SELECT * FROM tickets WHERE state = ? AND reporter_id = ? AND group_id IS ?"
                           " AND asked_at >= ? ORDER BY id DESC LIMIT 1", (T_ASKING, sender_id, group_id, since))


async def any_asking(store: Store) -> bool:
    return await store.one("SELECT 1 FROM tickets WHERE state = ? LIMIT 1", (T_ASKING,)) is not None


async def asked_before(store: Store, until: str) -> list[aiosqlite.Row]:
    return await store.all("SELECT * FROM tickets WHERE state = ? AND asked_at < ? ORDER BY id", (T_ASKING, until))


async def add_note(store: Store, ticket_id: int, message_key: str, text: str, sent_at: str,
                   replies: list[Reply]) -> str:
    """A resident's addition to their own ticket: kept with the ticket, and carried to the backend
    in the ticket itself (not sent yet) or as a note (already made). Returns where it went."""
    async with store.transaction() as db:
        row = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        await db.execute("INSERT OR IGNORE INTO ticket_notes (ticket_id, message_key, text, sent_at)"
                         " VALUES (?,?,?,?)", (ticket_id, message_key, text, sent_at))
        where = "kept"
        pending = await (await db.execute("SELECT id, payload FROM outbox WHERE ticket_id = ? AND kind = 'create'"
                                          " AND done_at IS NULL AND failed_at IS NULL", (ticket_id,))).fetchall()
        if row["state"] in (T_ASKING, T_AWAITING) or pending:
            description = f"{row['description']}；补充：{text}"
            await db.execute("UPDATE tickets SET description = ?, updated_at = ? WHERE id = ?",
                             (description, now_iso(), ticket_id))
            for item in pending:
                payload = {**json.loads(item["payload"]), "description": description}
                await db.execute("UPDATE outbox SET payload = ? WHERE id = ?",
                                 (json.dumps(payload, ensure_ascii=False), item["id"]))
            where = "ticket"
        elif row["service_request_id"] and row["state"] == T_OPEN:
            await _enqueue(db, ticket_id, "note", {"note": f"居民补充：{text}", "from": "resident"},
                           f"note:{message_key}")
            where = "backend"
        await store._set_state(db, message_key, ANSWERED, ticket_id=ticket_id, note=f"addition ({where})")
        for reply in replies:
            await store._queue_reply(db, reply, message_key)
    return where


async def tell_reporters(store: Store, ticket_id: int, number: str | None, *texts: str) -> list[Reply]:
    """The same words to everyone who reported a ticket, where each reported it: in their group
    with an @-mention, or privately (the reporters are read once for all the texts)."""
    people = await reporters(store, ticket_id)
    return [Reply(text, who["group_id"], who["group_name"] if who["group_id"] else None, who["reporter_id"],
                  who["reporter_name"], None, number) for text in texts for who in people]


async def relay(store: Store, ticket_id: int, key: str, note: dict | None, said: list[Reply],
                message_key: str | None = None) -> None:
    """A message passed between a grid manager and residents: the replies queued, and (`note`, once
    the backend has the ticket) the words kept in its history, in one transaction. `key` makes a
    repeat of the same event do nothing twice."""
    async with store.transaction() as db:
        if note is not None:
            await _enqueue(db, ticket_id, "note", note, f"relay:{key}")
        for reply in said:
            await store._queue_reply(db, reply, message_key)
        if message_key is not None:
            await store._set_state(db, message_key, ANSWERED, ticket_id=ticket_id, note="relayed")


async def _enqueue(db, ticket_id: int, kind: str, payload: dict | None, key: str) -> None:
    """Queue a call; a row of the same key that was set aside (refused) is sent again with this payload."""
    await db.execute(
        "INSERT INTO outbox (ticket_id, kind, payload, idempotency_key, created_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (idempotency_key) DO UPDATE SET payload = excluded.payload, failed_at = NULL,"
        " next_attempt_at = 0, attempts = 0, last_error = NULL WHERE outbox.failed_at IS NOT NULL",
        (ticket_id, kind, json.dumps(payload or {}, ensure_ascii=False), key, now_iso()))


async def ticket(store: Store, ticket_id: int) -> aiosqlite.Row | None:
    return await store.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))


async def confirm(store: Store, ticket_id: int, category: str, payload: dict, decided_by: str,
                  action: str, text: str, replies: list[Reply]) -> None:
    """A manager confirms (maybe re-categorized): queue creation and remember the decision."""
    async with store.transaction() as db:
        row = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        await db.execute("UPDATE tickets SET state = ?, category = ?, updated_at = ? WHERE id = ?",
                         (T_QUEUED, category, now_iso(), ticket_id))
        await _enqueue(db, ticket_id, "create", payload, row["message_key"])
        await _decide(db, row["message_key"], ticket_id, text, category, action, decided_by)
        await store._set_state(db, row["message_key"], QUEUED, label=category)
        for reply in replies:
            await store._queue_reply(db, reply, row["message_key"])


async def reject(store: Store, ticket_id: int, decided_by: str, text: str, replies: list[Reply]) -> None:
    async with store.transaction() as db:
        row = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        await db.execute("UPDATE tickets SET state = ?, updated_at = ? WHERE id = ?",
                         (T_REJECTED, now_iso(), ticket_id))
        await _decide(db, row["message_key"], ticket_id, text, "none", "reject", decided_by)
        await store._set_state(db, row["message_key"], ANSWERED, label="none", note="rejected by manager")
        for reply in replies:
            await store._queue_reply(db, reply, row["message_key"])


async def recategorize(store: Store, ticket_id: int, category: str, decided_by: str, text: str,
                       payload: dict | None = None, said: list[Reply] = ()) -> None:
    """Re-categorize a ticket: the local row, the decision, and (`payload`, once the backend has the
    ticket) an outbox row that carries the new category to the backend."""
    async with store.transaction() as db:
        row = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        await db.execute("UPDATE tickets SET category = ?, updated_at = ? WHERE id = ?",
                         (category, now_iso(), ticket_id))
        await _decide(db, row["message_key"], ticket_id, text, category, "recategorize", decided_by)
        if payload is not None:
            count = await (await db.execute("SELECT count(*) FROM outbox WHERE ticket_id = ?", (ticket_id,))).fetchone()
            await _enqueue(db, ticket_id, "recategorize", payload, f"category:{ticket_id}:{count[0]}")
        for reply in said:
            await store._queue_reply(db, reply, None)


async def _decide(db, key: str, ticket_id: int | None, text: str, label: str, action: str, by: str) -> None:
    await db.execute("INSERT INTO decisions (message_key, ticket_id, text, label, action, decided_by, decided_at)"
                     " VALUES (?,?,?,?,?,?,?)", (key, ticket_id, text, label, action, by, now_iso()))


async def record_decision(store: Store, key: str, text: str, label: str, action: str, by: str) -> None:
    async with store.transaction() as db:
        await _decide(db, key, None, text, label, action, by)


async def merge_candidates(store: Store, group_name: str, category: str | None, since: str,
                           limit: int = -1) -> list[aiosqlite.Row]:
    """Live tickets of a group reported since `since`, newest first: of one category, or of any (None)."""
    marks = ",".join("?" * len(LIVE))
    return await store.all(
        f"SELECT * FROM tickets WHERE group_name = ? AND (? IS NULL OR category = ?) AND state IN ({marks})"
        f" AND COALESCE(sent_at, created_at) >= ? ORDER BY id DESC LIMIT ?",
        (group_name, category, category, *LIVE, since, limit))


async def join(store: Store, ticket_id: int, message_key: str, reporter_id: str, reporter_name: str,
               group_id: str | None, group_name: str, replies: list[Reply]) -> None:
    """A repeat report joins an open ticket: the reporter is told its number and hears of changes."""
    async with store.transaction() as db:
        await db.execute(
            "INSERT OR IGNORE INTO ticket_reporters (ticket_id, message_key, reporter_id, reporter_name, group_id,"
            " group_name, joined_at) VALUES (?,?,?,?,?,?,?)",
            (ticket_id, message_key, reporter_id, reporter_name, group_id, group_name, now_iso()))
        await store._set_state(db, message_key, ANSWERED, ticket_id=ticket_id, note="merged")
        for reply in replies:
            await store._queue_reply(db, reply, message_key)


async def reporters(store: Store, ticket_id: int) -> list[aiosqlite.Row]:
    return await store.all("SELECT reporter_id, reporter_name, group_id, group_name, min(joined_at) AS joined_at"
                           " FROM ticket_reporters WHERE ticket_id = ? GROUP BY reporter_id ORDER BY joined_at",
                           (ticket_id,))


async def recent_reports(store: Store, reporter_id: str, since: str) -> int:
    row = await store.one("SELECT count(*) AS n FROM tickets WHERE reporter_id = ? AND COALESCE(sent_at, created_at) >= ?",
                          (reporter_id, since))
    return row["n"]


async def of_reporter(store: Store, reporter_id: str, live_only: bool = True) -> list[aiosqlite.Row]:
    states = LIVE if live_only else (*LIVE, T_CLOSED)
    marks = ",".join("?" * len(states))
    return await store.all(
        f"SELECT DISTINCT t.* FROM tickets t JOIN ticket_reporters r ON r.ticket_id = t.id"
        f" WHERE r.reporter_id = ? AND t.state IN ({marks}) ORDER BY t.id", (reporter_id, *states))


async def awaiting(store: Store, groups: list[str] | None) -> list[aiosqlite.Row]:
    if groups is None:
        return await store.all("SELECT * FROM tickets WHERE state = ? ORDER BY id", (T_AWAITING,))
    marks = ",".join("?" * len(groups)) or "NULL"
    return await store.all(f"SELECT * FROM tickets WHERE state = ? AND group_name IN ({marks}) ORDER BY id",
                           (T_AWAITING, *groups))


async def open_with_number(store: Store) -> list[aiosqlite.Row]:
    return await store.all("SELECT * FROM tickets WHERE state = ? AND service_request_id IS NOT NULL ORDER BY id",
                           (T_OPEN,))


# -- the outbox ------------------------------------------------------------------------------

async def any_filed(store: Store) -> bool:
    return await store.one("SELECT 1 FROM tickets WHERE service_request_id IS NOT NULL LIMIT 1") is not None


async def due(store: Store, limit: int = 20) -> list[aiosqlite.Row]:
    return await store.all("SELECT * FROM outbox WHERE done_at IS NULL AND failed_at IS NULL"
                           " AND next_attempt_at <= ? ORDER BY id LIMIT ?", (time.time(), limit))


async def pending_count(store: Store) -> int:
    row = await store.one("SELECT count(*) AS n FROM outbox WHERE done_at IS NULL AND failed_at IS NULL")
    return row["n"]


async def created(store: Store, outbox_id: int, ticket_id: int, request: Any, replies: list[Reply]) -> None:
    """The backend made the ticket: record its number and status and queue the resident's answer."""
    async with store.transaction() as db:
        await db.execute("UPDATE outbox SET done_at = ?, attempts = attempts + 1 WHERE id = ?", (now_iso(), outbox_id))
        await db.execute(
            "UPDATE tickets SET state = ?, service_request_id = ?, status = ?, status_notes = ?, agency = ?,"
            " updated_datetime = ?, expected_datetime = ?, updated_at = ? WHERE id = ?",
            (T_OPEN, request.service_request_id, request.status or "open", request.status_notes,
             request.agency_responsible, request.updated_datetime, request.expected_datetime, now_iso(), ticket_id))
        row = await (await db.execute("SELECT message_key FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        await store._set_state(db, row["message_key"], TICKETED)
        for reply in replies:
            await store._queue_reply(db, reply, row["message_key"])
        await store._set_state(db, row["message_key"], ANSWERED)


async def sent_update(store: Store, outbox_id: int) -> None:
    async with store.transaction() as db:
        await db.execute("UPDATE outbox SET done_at = ?, attempts = attempts + 1 WHERE id = ?", (now_iso(), outbox_id))


async def retry_later(store: Store, outbox_id: int, error: str, delay: float) -> None:
    async with store.transaction() as db:
        await db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                         (error[:500], time.time() + delay, outbox_id))


async def give_up(store: Store, outbox_id: int, ticket_id: int, error: str, replies: list[Reply]) -> None:
    """A refused (or poison) outbox row is set aside with its error. A ticket that was on its way
    to the backend waits in its grid manager's 待确认 instead (确认 sends it again), and the people
    in `replies` are told."""
    async with store.transaction() as db:
        await db.execute("UPDATE outbox SET failed_at = ?, last_error = ?, attempts = attempts + 1 WHERE id = ?",
                         (now_iso(), error[:500], outbox_id))
        row = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        if row is not None and row["state"] == T_QUEUED:
            await db.execute("UPDATE tickets SET state = ?, updated_at = ? WHERE id = ?", (T_AWAITING, now_iso(), ticket_id))
            await store._set_state(db, row["message_key"], AWAITING, note=f"backend refused: {error[:200]}")
        for reply in replies:
            await store._queue_reply(db, reply, row["message_key"] if row is not None else None)


async def set_aside(store: Store) -> tuple[list[aiosqlite.Row], list[aiosqlite.Row]]:
    """Outbox rows and replies set aside (refused, poison, undeliverable), newest first."""
    rows = await store.all("SELECT o.*, t.group_name, t.category, t.description, t.service_request_id"
                           " FROM outbox o JOIN tickets t ON t.id = o.ticket_id WHERE o.failed_at IS NOT NULL"
                           " ORDER BY o.id DESC LIMIT 50")
    said = await store.all("SELECT * FROM replies WHERE failed_at IS NOT NULL ORDER BY id DESC LIMIT 50")
    return rows, said


async def requeue(store: Store, ticket_id: int | None = None) -> int:
    """Send set-aside outbox rows again (all, or one ticket's); their tickets are on their way again."""
    async with store.transaction() as db:
        where, params = ("AND ticket_id = ?", (ticket_id,)) if ticket_id is not None else ("", ())
        rows = await (await db.execute(f"SELECT * FROM outbox WHERE failed_at IS NOT NULL {where}", params)).fetchall()
        for row in rows:
            await db.execute("UPDATE outbox SET failed_at = NULL, next_attempt_at = 0, attempts = 0 WHERE id = ?",
                             (row["id"],))
            if row["kind"] == "create":
                ticket = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (row["ticket_id"],))).fetchone()
                if ticket["state"] in (T_AWAITING, T_FAILED):
                    await db.execute("UPDATE tickets SET state = ?, updated_at = ? WHERE id = ?",
                                     (T_QUEUED, now_iso(), ticket["id"]))
                    await store._set_state(db, ticket["message_key"], QUEUED, note="requeued")
    return len(rows)


async def status_changed(store: Store, ticket_id: int, request: Any, closed: bool, replies: list[Reply],
                         category: str | None = None) -> None:
    """The backend's view of a ticket, recorded with what residents are told of it. A category
    staff changed on the backend (the ledger) is recorded as their decision: a labelled example."""
    async with store.transaction() as db:
        await db.execute(
            "UPDATE tickets SET state = ?, status = ?, status_notes = ?, agency = ?, updated_datetime = ?,"
            " expected_datetime = ?, stage = ?, category = COALESCE(?, category), updated_at = ? WHERE id = ?",
            (T_CLOSED if closed else T_OPEN, request.status, request.status_notes, request.agency_responsible,
             request.updated_datetime, request.expected_datetime, getattr(request, "stage", None), category,
             now_iso(), ticket_id))
        if category is not None:
            row = await (await db.execute(
                "SELECT t.message_key, COALESCE(m.text, t.description) FROM tickets t"
                " LEFT JOIN messages m ON m.key = t.message_key WHERE t.id = ?", (ticket_id,))).fetchone()
            await _decide(db, row[0], ticket_id, row[1], category, "recategorize", "ledger")
        for reply in replies:
            await store._queue_reply(db, reply, None)


async def rate(store: Store, ticket_id: int, rating: str, payload: dict, key: str) -> None:
    """Store a resident's rating and queue it for the backend as a status update."""
    async with store.transaction() as db:
        await db.execute("UPDATE tickets SET rating = ?, updated_at = ? WHERE id = ?", (rating, now_iso(), ticket_id))
        await _enqueue(db, ticket_id, "rating", payload, key)


async def ignore(store: Store, key: str, note: str, replies: list[Reply] = ()) -> None:
    await store.finish(key, IGNORED, list(replies), note=note)


async def attach_media(store: Store, ticket_id: int, url: str) -> bool:
    """Attach an image URL to a ticket not yet sent to the backend; False if it went already.

    Open311 takes media_url only when a request is created, so a ticket the backend has made
    keeps the image in the bot's store only.
    """
    async with store.transaction() as db:
        row = await (await db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))).fetchone()
        if row is None or row["media_url"]:
            return False
        await db.execute("UPDATE tickets SET media_url = ?, updated_at = ? WHERE id = ?", (url, now_iso(), ticket_id))
        pending = await (await db.execute("SELECT id, payload FROM outbox WHERE ticket_id = ? AND kind = 'create'"
                                          " AND done_at IS NULL AND failed_at IS NULL", (ticket_id,))).fetchall()
        for item in pending:
            payload = {**json.loads(item["payload"]), "media_url": url}
            await db.execute("UPDATE outbox SET payload = ? WHERE id = ?",
                             (json.dumps(payload, ensure_ascii=False), item["id"]))
        return row["state"] == T_AWAITING or bool(pending)
