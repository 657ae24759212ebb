"""The pipeline: dedupe -> store -> route -> classify -> decide -> ticket -> reply.

Intake knows nothing of WeChat. Every message is written to the store before anything else
happens to it, and each step moves it to its next state in one transaction, so `resume()` after a
crash picks up exactly where processing stopped. Replies are queued in the store; the sender
delivers them through the channel.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from bot import admin_commands, manager_commands  # noqa: F401  (they register their commands)
from bot import replies, tickets
from bot.commands import Context, command_text, dispatch, router
from bot.config import Settings
from bot.messages import IncomingMessage, Reply
from bot.similarity import similar
from bot.store import ANSWERED, CLASSIFIED, IGNORED, RECEIVED, Store
from classifier.corpus import NONE, load_taxonomy

log = logging.getLogger(__name__)
IMAGE_FOLLOWS_WITHIN = timedelta(minutes=10)


class Intake:
    def __init__(self, settings: Settings, store: Store, live_model, retrainer=None, wake_outbox=None):
        self.settings, self.store, self.live_model = settings, store, live_model
        self.retrainer = retrainer
        self.wake_outbox = wake_outbox or (lambda: None)
        self.names = load_taxonomy()
        self._salt: str | None = None

    async def handle(self, msg: IncomingMessage) -> bool:
        """Take one message; False when it was ignored unseen (unmonitored group) or a repeat event."""
        if msg.in_group and self.settings.group(msg.group_name) is None:
            return False  # only configured groups are heard; the rest are not even stored
        row, is_new = await self.store.insert_message(msg)
        if not is_new and row["state"] not in (RECEIVED, CLASSIFIED):
            return False  # decided before: done, or waiting for the backend or a manager
        await self._process(msg, row)
        return True

    async def resume(self) -> int:
        """Finish every message a previous run stored but did not see to its end."""
        rows = await self.store.unfinished_messages()
        for row in rows:
            await self._process(message_from_row(row), row)
        if rows:
            log.info("resumed %d unfinished messages", len(rows))
        return len(rows)

    def context(self, msg: IncomingMessage) -> Context:
        return Context(msg, self.settings, self.store, self.names, self.payload_for, self.retrainer,
                       self.live_model)

    async def _process(self, msg: IncomingMessage, row) -> None:
        ctx = self.context(msg)
        if row["state"] == RECEIVED:
            answer = await dispatch(router, ctx, command_text(msg.text, self.settings.bot_names)) \
                if msg.kind == "text" else None
            if answer is not None:
                await self.store.finish(msg.message_id, ANSWERED, answer, note="command")
                return
            if not msg.in_group:
                await self.store.finish(msg.message_id, ANSWERED,
                                        [ctx.reply(replies.help_text(ctx.managed_groups != [], ctx.is_admin))],
                                        note="private chat")
                return
            if msg.kind != "text":
                note = await self._attach_image(msg, row) if msg.kind == "image" else None
                await self.store.finish(msg.message_id, IGNORED, note=note or f"{msg.kind} message")
                return
            if ctx.manages(msg.group_name):
                await self.store.finish(msg.message_id, IGNORED, note="staff message")
                return
            label, confidence = self.live_model.classify(msg.text)
            await self.store.set_state(msg.message_id, CLASSIFIED, label=label, confidence=confidence)
        else:
            label, confidence = row["label"], row["confidence"]
        await self._decide(ctx, msg, label, confidence)

    async def _decide(self, ctx: Context, msg: IncomingMessage, label: str, confidence: float) -> None:
        policy, limits = self.settings.classifier, self.settings.limits
        if label == NONE or confidence < policy.ignore_below:
            await self.store.finish(msg.message_id, IGNORED, note="not a complaint")
            return
        now = datetime.now(timezone.utc)
        since = (now - timedelta(hours=limits.merge_window_hours)).isoformat(timespec="seconds")
        for candidate in await tickets.merge_candidates(self.store, msg.group_name, label, since):
            if similar(msg.text, candidate["description"], limits.merge_similarity):
                text = replies.ticket_joined(self.names[label], candidate["service_request_id"],
                                             candidate["status"], candidate["status_notes"], candidate["id"])
                await tickets.join(self.store, candidate["id"], msg.message_id, msg.sender_id, msg.sender_name,
                                   msg.group_id, msg.group_name,
                                   [ctx.reply(text, ticket=candidate["service_request_id"])])
                return
        hour_ago = (now - timedelta(hours=1)).isoformat(timespec="seconds")
        if await tickets.recent_reports(self.store, msg.sender_id, hour_ago) >= limits.reports_per_hour:
            told = await self.store.one(
                "SELECT 1 FROM messages WHERE sender_id = ? AND note = 'rate limited' AND received_at >= ?",
                (msg.sender_id, hour_ago))
            answer = [] if told else [ctx.reply(replies.rate_limited(limits.reports_per_hour))]
            await self.store.finish(msg.message_id, IGNORED, answer, note="rate limited")
            return
        await self._open(ctx, msg, label, confidence, awaiting=confidence < policy.auto_ticket)

    async def _open(self, ctx: Context, msg: IncomingMessage, label: str, confidence: float,
                    awaiting: bool) -> None:
        limit = self.settings.limits.description_chars
        description = " ".join(msg.text.split())
        notes = []
        if len(description) > limit:
            description = description[:limit] + "…"
            notes.append(ctx.reply(replies.truncated(limit)))
        new = tickets.NewTicket(msg.message_id, msg.group_id, msg.group_name, msg.sender_id, msg.sender_name,
                                label, description, confidence, msg.media_url)
        if not awaiting:
            await tickets.open_ticket(self.store, new, False, self._payload(new, label), lambda _id: notes)
            self.wake_outbox()
            return

        def questions(ticket_id: int) -> list[Reply]:
            text = replies.confirm_request(ticket_id, self.names[label], msg.sender_name, msg.text, confidence)
            return [ctx.reply(replies.awaiting_manager()), *notes, *self._ask_managers(msg, text)]
        await tickets.open_ticket(self.store, new, True, None, questions)

    async def _attach_image(self, msg: IncomingMessage, row) -> str | None:
        """A photo right after a resident's complaint belongs to that complaint's ticket."""
        if not msg.media_url or not msg.in_group:
            return None
        before = await self.store.last_message_of(msg.sender_id, msg.group_name, row["id"])
        if before is None or before["ticket_id"] is None:
            return None
        if msg.time - datetime.fromisoformat(before["sent_at"]) > IMAGE_FOLLOWS_WITHIN:
            return None
        sent = await tickets.attach_media(self.store, before["ticket_id"], msg.media_url)
        return f"image for ticket #{before['ticket_id']}" + ("" if sent else " (kept locally: already filed)")

    def _ask_managers(self, msg: IncomingMessage, text: str) -> list[Reply]:
        """The question goes to the group's first grid manager in the group, else to admins privately."""
        group = self.settings.group(msg.group_name)
        if group.grid_managers:
            return [Reply(text, msg.group_id, msg.group_name, group.grid_managers[0], None, msg.message_id)]
        return [Reply(text, None, None, admin, None, msg.message_id) for admin in self.settings.admins]

    def _payload(self, t: tickets.NewTicket, category: str) -> dict:
        group = self.settings.group(t.group_name)
        return {"service_code": category, "description": t.description,
                "address_string": group.community if group else t.group_name, "group": t.group_name,
                "reporter": tickets.reporter_token(self._salt or "", t.reporter_id),
                "message_id": t.message_key, "media_url": t.media_url}

    def payload_for(self, row, category: str) -> dict:
        """The tracker payload for a stored ticket row (used when a manager confirms it)."""
        return self._payload(tickets.NewTicket(row["message_key"], row["group_id"], row["group_name"],
                                               row["reporter_id"], row["reporter_name"], category,
                                               row["description"], row["confidence"] or 0.0, row["media_url"]),
                             category)

    async def start(self) -> None:
        self._salt = await self.store.meta("reporter_salt")


def message_from_row(row) -> IncomingMessage:
    return IncomingMessage(
        message_id=row["key"], group_id=row["group_id"], group_name=row["group_name"],
        sender_id=row["sender_id"], sender_name=row["sender_name"], text=row["text"],
        mentions=tuple(json.loads(row["mentions"] or "[]")), time=datetime.fromisoformat(row["sent_at"]),
        in_group=bool(row["in_group"]), kind=row["kind"], media_url=row["media_url"])

