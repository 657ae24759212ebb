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

from bot import replies, tickets
from bot.messages import Reply
from bot.tracker import PermanentTrackerError, RetryableTrackerError, TrackerClient, TrackerError

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


def resident(row, text: str, ticket: str | None) -> Reply:
    """To the reporter where they reported: in their group, or privately (no group id)."""
    return Reply(text, row["group_id"], row["group_name"] if row["group_id"] else None, row["reporter_id"],
                 row["reporter_name"], row["message_key"], ticket)


class Outbox:
    def __init__(self, store, tracker: TrackerClient, names: dict[str, str],
                 base_delay: float = 2.0, max_delay: float = 300.0):
        self.store, self.tracker, self.names = store, tracker, names
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
        """Send every due row once; returns how many were handled."""
        async with self._pass:
            rows = await tickets.due(self.store)
            for row in rows:
                await self._send(row)
            return len(rows)

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
            log.error("outbox %s (ticket #%s) refused by the backend: %s", row["id"], ticket["id"], exc)
            answer = [resident(ticket, replies.ticket_failed(), None)] if row["kind"] == "create" else []
            await tickets.give_up(self.store, row["id"], ticket["id"], str(exc), answer)

    async def _create(self, row, ticket, payload: dict) -> None:
        made = await self.tracker.create(
            payload["service_code"], payload["description"], address_string=payload.get("address_string"),
            group=payload.get("group"), reporter=payload.get("reporter"), message_id=payload.get("message_id"),
            media_url=payload.get("media_url"), idempotency_key=row["idempotency_key"])
        # A new ticket is open: the resident hears its number now, and the details (agency,
        # deadline) are read after the answer is queued, so they never delay it.
        request = _Request(None, made.service_request_id)
        name = self.names.get(payload["service_code"], payload["service_code"])
        text = replies.ticket_created(name, request.service_request_id, request.status, request.status_notes)
        await tickets.created(self.store, row["id"], ticket["id"], request,
                              [resident(ticket, text, request.service_request_id)])
        self.replies_queued()
        try:
            found = _Request(await self.tracker.get(made.service_request_id), made.service_request_id)
        except TrackerError as exc:
            log.info("details of %s not read yet (%s); the status poller will", made.service_request_id, exc)
            return
        await tickets.status_changed(self.store, ticket["id"], found, found.status == "closed", [])


class StatusPoller:
    """Asks the backend about every open ticket the bot made; tells residents what changed."""

    def __init__(self, store, tracker: TrackerClient, names: dict[str, str], interval: float = 60.0):
        self.store, self.tracker, self.names, self.interval = store, tracker, names, interval

    async def poll_once(self) -> int:
        rows = {r["service_request_id"]: r for r in await tickets.open_with_number(self.store)}
        if not rows:
            return 0
        changed = 0
        for found in await self.tracker.get_many(list(rows)):
            row = rows.get(found.service_request_id)
            request = _Request(found)
            if row is None or (request.status, request.status_notes, request.agency_responsible) == \
                    (row["status"], row["status_notes"], row["agency"]):
                continue
            if (request.status, request.status_notes) == (row["status"], row["status_notes"]) and not row["agency"]:
                # Details the bot had not read yet (agency, deadline): recorded, nothing to tell.
                await tickets.status_changed(self.store, row["id"], request, False, [])
                continue
            closed = request.status == "closed"
            name = self.names.get(row["category"], row["category"])
            text = replies.status_update(request.service_request_id, name, request.status,
                                         request.status_notes, request.agency_responsible)
            answers = []
            for who in await tickets.reporters(self.store, row["id"]):
                where = (who["group_id"], who["group_name"] if who["group_id"] else None)
                answers.append(Reply(text, *where, who["reporter_id"], who["reporter_name"], None,
                                     request.service_request_id))
                if closed:
                    answers.append(Reply(replies.ask_rating(request.service_request_id), *where, who["reporter_id"],
                                         who["reporter_name"], None, request.service_request_id))
            await tickets.status_changed(self.store, row["id"], request, closed, answers)
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
