"""One message on its way through the steps, and what the steps have learned about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.commands import Context
from bot.config import Group
from bot.messages import IncomingMessage, Reply


@dataclass
class Turn:
    intake: Any                      # bot.intake.Intake: settings, store, model, helpers
    msg: IncomingMessage
    row: Any                         # the stored message row
    ctx: Context
    text: str                        # what is judged: the message, or it with the fragments before it
    group: Group | None = None       # the group a complaint belongs to (the chat's, or a private sender's)
    absorbed: tuple[str, ...] = ()   # earlier fragments joined into this message
    label: str | None = None
    confidence: float = 0.0
    place: Any = None                # bot.places.Place
    emergency: Any = None            # bot.emergency.Emergency
    review: bool = False             # a report the model doubts: a person decides before it is filed
    said: list[Reply] = field(default_factory=list)  # replies decided before the step that finishes
    _recent: list | None = field(default=None, repr=False)

    async def recent(self, limit: int = 5) -> list:
        """The sender's messages just before this one in the same chat, newest first (read once)."""
        if self._recent is None:
            self._recent = await self.store.all(
                "SELECT * FROM messages WHERE sender_id = ? AND group_id IS ? AND id < ? ORDER BY id DESC LIMIT ?",
                (self.msg.sender_id, self.chat[0], self.row["id"], 5))
        return self._recent[:limit]

    @property
    def settings(self):
        return self.intake.settings

    @property
    def store(self):
        return self.intake.store

    @property
    def key(self) -> str:
        return self.msg.message_id

    @property
    def sent_at(self) -> str:
        return utc_iso(self.msg.time)

    @property
    def chat(self) -> tuple[str | None, str]:
        """Where the sender talks to the bot: (group id or None for private, sender id)."""
        return (self.msg.group_id if self.msg.in_group else None, self.msg.sender_id)

    async def finish(self, state: str, replies: list[Reply] = (), **fields) -> bool:
        """End the message in `state`, with everything said on the way, in one transaction."""
        await self.store.finish(self.key, state, [*self.said, *replies], **fields)
        return True


def utc_iso(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def since(when: datetime, **delta) -> str:
    """The UTC ISO time `delta` before `when`: the start of a window in the residents' time."""
    return utc_iso(when - timedelta(**delta))
