"""Intake: every message is stored, then walks the declared path of steps (bot.steps.PATH) until
one of them finishes it.

Intake knows nothing of WeChat. A message is written to the store before anything else happens to
it, and each step that changes something does it in one transaction, so `resume()` after a crash
picks up exactly where processing stopped. Replies are queued in the store; the sender delivers
them through the channel. This module also holds what several steps share: how a ticket is
filed, held for a grid manager, or completed once its place is known.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from bot import admin_commands, callback, manager_commands  # noqa: F401  (they register their commands)
from bot import replies, tickets
from bot.commands import Context
from bot.config import Group, Settings
from bot.messages import NO_GROUP, IncomingMessage, Reply, where_from
from bot.steps import PATH, Turn
from bot.steps.turn import utc_iso
from bot.store import CLASSIFIED, RECEIVED, Store
from classifier.corpus import load_taxonomy

log = logging.getLogger(__name__)
PRIVATE_GROUP = "私聊"  # the group of a private complaint from someone never heard in a group


class Intake:
    def __init__(self, settings: Settings, store: Store, live_model, retrainer=None, wake_outbox=None):
        self.settings, self.store, self.live_model = settings, store, live_model
        self.retrainer = retrainer
        self.wake_outbox = wake_outbox or (lambda: None)
        self.names = load_taxonomy()
        self._salt: str | None = None
        self.asking = True  # whether a ticket may be waiting for its place (start() reads it)

    async def handle(self, msg: IncomingMessage) -> bool:
        """Take one message; False when it was ignored unseen (unmonitored group) or a repeat event."""
        if msg.in_group and self.settings.group(msg.group_name) is None:
            return False  # only configured groups are heard; the rest are not even stored
        if msg.in_group and msg.group_id and not await self.store.room_for(
                msg.group_name, msg.group_id,
                lambda: self.tell_managers(None, replies.room_conflict(msg.group_name, msg.group_id), None)):
            log.warning("room %s calls itself %r, a name pinned to another room: refused", msg.group_id, msg.group_name)
            return False
        row, is_new = await self.store.insert_message(msg)
        if not is_new and row["state"] not in (RECEIVED, CLASSIFIED):
            return False  # decided before: done, or waiting for the backend or a manager
        await self.expire_asks(msg.time)
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
        turn = Turn(self, msg, row, self.context(msg), msg.text)
        for step in PATH:
            if step.first_pass_only and row["state"] != RECEIVED:
                continue
            if await step.run(turn):
                return
        raise RuntimeError(f"message {msg.message_id}: no step finished it")  # the ticket step always does

    # -- what the steps share ---------------------------------------------------------------

    def new_ticket(self, turn: Turn) -> tickets.NewTicket:
        limit = self.settings.limits.description_chars
        description = " ".join(turn.text.split())
        if len(description) > limit:
            description = description[:limit] + "…"
            turn.said.append(turn.ctx.reply(replies.truncated(limit)))
        msg = turn.msg
        group_name = turn.group.name if turn.group else PRIVATE_GROUP if msg.from_chat else NO_GROUP
        where = turn.place.describe() if turn.place is not None and not turn.place.empty else None
        if msg.place and (where is None or where not in msg.place):
            where = " ".join(msg.place.split())[:200]  # as the operator or the form gave it
        contact = "；".join(part for part in (f"联系人：{msg.sender_name}" if not msg.from_chat else "",
                                              f"联系电话：{msg.phone}" if msg.phone else "") if part)
        if contact:
            description = f"{description}（{contact}）"
        return tickets.NewTicket(turn.key, turn.chat[0], group_name, msg.sender_id, msg.sender_name,
                                 turn.label, description, turn.confidence, msg.media_url, where, turn.sent_at,
                                 turn.emergency.kind if turn.emergency else None, msg.source)

    async def file(self, new: tickets.NewTicket, said: list[Reply], absorbed: tuple[str, ...] = ()) -> int:
        """Send a ticket to the backend now (through the outbox)."""
        ticket_id = await tickets.open_ticket(self.store, new, False, self._payload(new, new.category),
                                              lambda _id: said, absorbed=absorbed)
        self.wake_outbox()
        return ticket_id

    async def hold(self, new: tickets.NewTicket, text: str, reason: str | None, said: list[Reply],
                   absorbed: tuple[str, ...] = ()) -> int:
        """Put a ticket in the grid manager's 待确认 and ask them privately."""
        group = self.settings.group(new.group_name)

        def questions(ticket_id: int) -> list[Reply]:
            ask = replies.confirm_request(ticket_id, self.names.get(new.category, new.category),
                                          where_from(new.group_name, new.source), new.reporter_name, text, reason,
                                          new.place)
            return [*said, *self.tell_managers(group, ask, new.message_key)]
        return await tickets.open_ticket(self.store, new, True, None, questions, absorbed=absorbed, note=reason)

    def tell_managers(self, group: Group | None, text: str, key: str | None) -> list[Reply]:
        """Private messages to the group's grid managers, or to the admins when it has none."""
        names = self.settings.staff_names
        return [Reply(text, None, None, who, names.get(who), key)
                for who in self.settings.responsible(group.name if group else None)]

    def refused_for_managers(self, row, reason: str) -> list[Reply]:
        """The grid manager's word that a ticket the backend refused waits in their 待确认."""
        text = replies.refused_for_manager(row["id"], self.names.get(row["category"], row["category"]),
                                           row["group_name"], row["description"], reason)
        return self.tell_managers(self.settings.group(row["group_name"]), text, row["message_key"])

    async def place_known(self, row, where: str | None, answer_key: str, said: list[Reply]) -> None:
        """A ticket that waited for its place goes on: to the backend, or to its grid manager."""
        group = self.settings.group(row["group_name"])
        name = self.names.get(row["category"], row["category"])
        new = self._new_from_row(row, row["category"], where)
        sure = (row["confidence"] or 0.0) >= self.settings.classifier.auto_ticket and group is not None
        payload = self._payload(new, row["category"]) if sure else None
        extra = []
        if where is None:
            extra = self.tell_managers(group, replies.filed_without_place(row["id"], name, row["description"]),
                                       row["message_key"])
        if not sure:
            extra += self.tell_managers(group, replies.confirm_request(
                row["id"], name, row["group_name"], row["reporter_name"], row["description"], None, where),
                row["message_key"])
        await tickets.place_given(self.store, row["id"], where or "", answer_key, payload, [*said, *extra])
        if sure:
            self.wake_outbox()

    async def expire_asks(self, now: datetime | None = None) -> int:
        """File every ticket whose question about its place went unanswered for the whole window
        (`now` is the residents' time: the newest message's, or the clock's). Returns how many."""
        if not self.asking:
            return 0  # the usual case: no question is open, and no query for each message
        now = now or datetime.now(timezone.utc)
        return await self._file_asked_before(utc_iso(now - timedelta(minutes=self.settings.limits.ask_window_minutes)))

    async def expire_all_asks(self) -> int:
        """The conversation is over (the end of a replayed transcript): nobody can answer any more."""
        return await self._file_asked_before("9999")

    async def _file_asked_before(self, cutoff: str) -> int:
        rows = await tickets.asked_before(self.store, cutoff)
        for row in rows:
            await self.place_known(row, None, row["message_key"], [])
        self.asking = await tickets.any_asking(self.store)
        return len(rows)

    def _new_from_row(self, row, category: str, place: str | None = None) -> tickets.NewTicket:
        return tickets.NewTicket(row["message_key"], row["group_id"], row["group_name"], row["reporter_id"],
                                 row["reporter_name"], category, row["description"], row["confidence"] or 0.0,
                                 row["media_url"], place if place is not None else row["place"],
                                 source=row["source"])

    def _payload(self, t: tickets.NewTicket, category: str) -> dict:
        group = self.settings.group(t.group_name)
        community = group.community if group else ""
        address = " ".join(part for part in (community, t.place or "") if part) or "未注明地点"
        return {"service_code": category, "description": t.description, "address_string": address,
                "group": t.group_name or None, "reporter": tickets.reporter_token(self._salt or "", t.reporter_id),
                "message_id": t.message_key, "media_url": t.media_url, "source": t.source}

    def payload_for(self, row, category: str) -> dict:
        """The tracker payload for a stored ticket row (used when a manager confirms it)."""
        return self._payload(self._new_from_row(row, category), category)

    async def start(self) -> None:
        self._salt = await self.store.meta("reporter_salt")
        self.asking = await tickets.any_asking(self.store)


def message_from_row(row) -> IncomingMessage:
    extra = json.loads(row["extra"] or "{}")
    return IncomingMessage(
        message_id=row["key"], group_id=row["group_id"], group_name=row["group_name"],
        sender_id=row["sender_id"], sender_name=row["sender_name"], text=row["text"],
        mentions=tuple(json.loads(row["mentions"] or "[]")), time=datetime.fromisoformat(row["sent_at"]),
        in_group=bool(row["in_group"]), kind=row["kind"], media_url=row["media_url"], source=row["source"],
        place=extra.get("place"), phone=extra.get("phone"))
