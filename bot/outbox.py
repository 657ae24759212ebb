"""Durable delivery of tracker calls, and the status poller that keeps residents posted.

An outbox row is written in the same transaction as its ticket, before any HTTP call. The worker
sends due rows; a retryable failure schedules the row again with exponential backoff and jitter
(the Idempotency-Key, the message id, makes the repeat safe), a permanent refusal marks the
ticket failed and tells the resident. Nothing is lost and nothing is made twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re

from bot import callback, replies, tickets
from common import status
from bot.messages import Reply
from bot.store import StoreError
from bot.tracker import PermanentTrackerError, RetryableTrackerError, RetryPolicy, TrackerClient, TrackerError

log = logging.getLogger(__name__)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


class _Request:
    """A ServiceRequest with its datetimes as ISO text, as the store keeps them."""

    def __init__(self, request, fallback_id: str | None = None):
        self.service_request_id = getattr(request, "service_request_id", None) or fallback_id
        self.status = getattr(request, "status", None) or "open"
        self.status_notes = getattr(request, "status_notes", None)
        self.agency_responsible = getattr(request, "agency_responsible", None)
        self.updated_datetime = _iso(getattr(request, "updated_datetime", None))
        self.expected_datetime = _iso(getattr(request, "expected_datetime", None))
        self.stage = status.stage_of(self.status, self.status_notes, getattr(request, "stage", None))
        self.service_code = getattr(request, "service_code", None)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MADE_BEFORE = re.compile(r"already used for (\S+?) with other content")


def clean(text: str | None) -> str | None:
    """Text a backend will take: control characters (a NUL from a broken client) are dropped."""
    return _CONTROL.sub("", text) if text else text


def _already_made(exc: Exception) -> str | None:
    """The ticket number when the backend says it made this message's ticket before (422 on a reused
    Idempotency-Key: the same message, sent by an earlier store with another reporter salt)."""
    found = _MADE_BEFORE.search(str(getattr(exc, "description", "") or exc))
    return found.group(1) if found and getattr(exc, "status", None) == 422 else None


def resident(row, text: str, ticket: str | None) -> Reply:
    """To the reporter where they reported: in their group, or privately (no group id)."""
    return Reply(text, row["group_id"], row["group_name"] if row["group_id"] else None, row["reporter_id"],
                 row["reporter_name"], row["message_key"], ticket)


class Outbox:
    def __init__(self, store, tracker: TrackerClient, names: dict[str, str],
                 base_delay: float = 2.0, max_delay: float = 300.0, parallel: int = 8, on_refused=None):
        # The outbox is the retry mechanism: each call is made once per pass (no retries inside
        # retries), and rows of different tickets go out side by side, so a black-holed backend
        # costs one timeout per pass, not one per row and attempt.
        self.store, self.tracker, self.names = store, tracker.with_retry(RetryPolicy(max_attempts=1)), names
        self.parallel = parallel
        # (ticket row, reason) -> replies to the grid manager; intake sets it (they go in 待确认)
        self.on_refused = on_refused or (lambda row, reason: [])
        self.base_delay, self.max_delay = base_delay, max_delay
        self._wake = asyncio.Event()
        self._pass = asyncio.Lock()  # drain() and the worker must not send the same due rows at once
        self.replies_queued = lambda: None  # runtime.serve points this at the reply sender's wake()

    def wake(self) -> None:
        self._wake.set()

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter, never shorter than the server asked for."""
        step = min(self.max_delay, self.base_delay * 2 ** attempts)
        return max(retry_after or 0.0, step / 2 + random.uniform(0, step / 2))

    async def run_once(self) -> int:
        """Send every due row once; returns how many were handled. Rows of one ticket go in order,
        tickets side by side (up to `parallel`); a row that fails in an unexpected way is set aside
        with its error and never stops the others."""
        async with self._pass:
            rows = await tickets.due(self.store, limit=max(20, self.parallel * 4))
            by_ticket: dict[int, list] = {}
            for row in rows:
                by_ticket.setdefault(row["ticket_id"], []).append(row)
            gate = asyncio.Semaphore(self.parallel)

            async def one_ticket(items) -> None:
                async with gate:
                    for row in items:
                        await self._guarded(row)
            await asyncio.gather(*(one_ticket(items) for items in by_ticket.values()))
            return len(rows)

    async def _guarded(self, row) -> None:
        try:
            await self._send(row)
        except StoreError:
            raise  # the store cannot take work: stop, nothing is lost
        except Exception as exc:  # noqa: BLE001 - a poison row: set aside, logged once, shown to admins
            log.exception("outbox %s (ticket #%s) set aside: unexpected error", row["id"], row["ticket_id"])
            await self._refused(row, f"unexpected error: {exc!r}")

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # a bug in one row must not stop delivery of the others
                log.exception("outbox pass failed")
                handled = 0
            if handled:
                self.replies_queued()  # a made ticket's answer goes out now, not at the sender's next poll
            if not handled:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), idle)
                except asyncio.TimeoutError:
                    pass

    async def drain(self, timeout: float = 60.0) -> bool:
        """Work until nothing is pending (replay and tests); False if rows are still waiting."""
        deadline = asyncio.get_running_loop().time() + timeout
        while await tickets.pending_count(self.store):
            if asyncio.get_running_loop().time() > deadline:
                return False
            if not await self.run_once():
                await asyncio.sleep(0.05)
        return True

    async def _send(self, row) -> None:
        ticket = await tickets.ticket(self.store, row["ticket_id"])
        payload = json.loads(row["payload"])
        try:
            if row["kind"] == "create":
                await self._create(row, ticket, payload)
            elif row["kind"] == "note":
                await self.tracker.add_note(ticket["service_request_id"], payload["note"],
                                            idempotency_key=row["idempotency_key"],
                                            from_resident=payload.get("from") == "resident")
                await tickets.sent_update(self.store, row["id"])
            elif row["kind"] == "rating":
                await self.tracker.rate(ticket["service_request_id"], payload["reporter"], payload["rating"],
                                        idempotency_key=row["idempotency_key"])
                await tickets.sent_update(self.store, row["id"])
            elif row["kind"] == "recategorize":
                request = await self.tracker.recategorize(ticket["service_request_id"], payload["service_code"],
                                                          idempotency_key=row["idempotency_key"])
                await tickets.sent_update(self.store, row["id"])
                await tickets.status_changed(self.store, ticket["id"], _Request(request),
                                             request.status == "closed", [])
            else:
                request = await self.tracker.update(ticket["service_request_id"], payload.get("status", "closed"),
                                                    status_notes=payload.get("status_notes"),
                                                    idempotency_key=row["idempotency_key"])
                await tickets.sent_update(self.store, row["id"])
                await tickets.status_changed(self.store, ticket["id"], _Request(request),
                                             request.status == "closed", [])
        except RetryableTrackerError as exc:
            wait = self.delay(row["attempts"], exc.retry_after)
            log.warning("outbox %s (ticket #%s): %s; next try in %.1fs", row["id"], ticket["id"], exc, wait)
            if row["kind"] == "create" and row["attempts"] == 0:
                await self.store.queue_replies([resident(ticket, replies.ticket_delayed(), None)], None)
            await tickets.retry_later(self.store, row["id"], str(exc), wait)
        except (PermanentTrackerError, TrackerError) as exc:
            made = _already_made(exc) if row["kind"] == "create" else None
            if made:  # the backend has this ticket from an earlier store (another reporter salt): adopt it
                log.warning("outbox %s (ticket #%s): the backend already made %s; adopted", row["id"], ticket["id"], made)
                await self._made(row, ticket, payload, made)
                return
            log.error("outbox %s (ticket #%s) refused by the backend: %s", row["id"], ticket["id"], exc)
            await self._refused(row, str(exc))

    async def _refused(self, row, reason: str) -> None:
        """A row the backend refused (or that failed unexpectedly) is set aside with its reason. A
        refused create goes to the grid manager's 待确认 with the reason, and the resident is told
        just that; `python -m bot requeue` or the admins' 重新提交 sends it again once fixed."""
        ticket = await tickets.ticket(self.store, row["ticket_id"])
        if row["kind"] != "create" or ticket is None:
            await tickets.give_up(self.store, row["id"], row["ticket_id"], reason, [])
            return
        told = [resident(ticket, replies.ticket_refused(), None), *self.on_refused(ticket, reason)]
        await tickets.give_up(self.store, row["id"], ticket["id"], reason, told)

    async def _create(self, row, ticket, payload: dict) -> None:
        made = await self.tracker.create(
            payload["service_code"], clean(payload["description"]), address_string=clean(payload.get("address_string")),
            group=payload.get("group"), reporter=payload.get("reporter"), message_id=payload.get("message_id"),
            media_url=payload.get("media_url"), idempotency_key=row["idempotency_key"],
            source=payload.get("source"))
        await self._made(row, ticket, payload, made.service_request_id)

    async def _made(self, row, ticket, payload: dict, number: str) -> None:
        # A new ticket is open: the resident hears its number now, and the details (agency,
        # deadline) are read after the answer is queued, so they never delay it.
        request = _Request(None, number)
        name = self.names.get(payload["service_code"], payload["service_code"])
        text = replies.ticket_created(name, request.service_request_id, request.status, request.status_notes,
                                      request.stage, chat=ticket["source"] == "wechat")
        await tickets.created(self.store, row["id"], ticket["id"], request,
                              [resident(ticket, text, request.service_request_id)])
        self.replies_queued()
        try:
            found = _Request(await self.tracker.get(number), number)
        except TrackerError as exc:
            log.info("details of %s not read yet (%s); the status poller will", number, exc)
            return
        await tickets.status_changed(self.store, ticket["id"], found, found.status == "closed", [])


class StatusPoller:
    """Asks the backend about every open ticket the bot made; tells residents what changed."""

    def __init__(self, store, tracker: TrackerClient, names: dict[str, str], interval: float = 60.0):
        self.store, self.tracker, self.names, self.interval = store, tracker, names, interval
        self._feed: dict = {}  # the backend's resident-notes feed: whether it has one

    async def poll_once(self) -> int:
        """Tell residents what changed on their open tickets, and pass on the notes staff wrote to
        them on the ledger; returns how many tickets had news."""
        changed = await self._statuses()
        if await tickets.any_filed(self.store):
            changed += await callback.relay_ledger_notes(self.store, self.tracker, self.names, self._feed)
        return changed

    async def _statuses(self) -> int:
        rows = {r["service_request_id"]: r for r in await tickets.open_with_number(self.store)}
        if not rows:
            return 0
        changed = 0
        for found in await self.tracker.get_many(list(rows)):
            row = rows.get(found.service_request_id)
            if row is None:
                continue
            request = _Request(found)
            stage_before = row["stage"] or request.stage  # rows from before stages were kept: no change
            moved = request.service_code and request.service_code != row["category"] \
                and request.service_code in self.names  # staff changed its category (the ledger)
            if (request.status, request.status_notes, request.agency_responsible, request.stage) == \
                    (row["status"], row["status_notes"], row["agency"], stage_before) and not moved:
                continue
            if (request.status, request.status_notes) == (row["status"], row["status_notes"]) and not row["agency"] \
                    and not moved:
                # Details the bot had not read yet (agency, deadline): recorded, nothing to tell.
                await tickets.status_changed(self.store, row["id"], request, False, [])
                continue
            closed = request.status == "closed"
            number = request.service_request_id
            texts = []
            if moved:
                texts.append(replies.category_changed(number, self.names[request.service_code],
                                                      request.agency_responsible))
            restaged = request.stage != stage_before and not (
                moved and request.stage == status.IN_PROGRESS)  # a category change alone puts it in progress
            if (request.status, request.status_notes) != (row["status"], row["status_notes"]) or restaged \
                    or not moved:
                name = self.names.get(request.service_code if moved else row["category"], row["category"])
                texts.append(replies.status_update(number, name, request.status, request.status_notes,
                                                   request.agency_responsible, request.stage))
            if closed and request.stage == status.CLOSED:
                texts.append(replies.ask_rating(number))
            answers = await tickets.tell_reporters(self.store, row["id"], number, *texts)
            await tickets.status_changed(self.store, row["id"], request, closed, answers,
                                         category=request.service_code if moved else None)
            changed += 1
        return changed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once()
            except TrackerError as exc:
                log.warning("status poll failed: %s", exc)
            except Exception:
                log.exception("status poll failed")
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
