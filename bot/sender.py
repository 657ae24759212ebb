"""Delivers queued replies through the channel, oldest first, at least once.

A reply is marked sent only after the channel took it, so a crash in between may repeat one
reply after restart; it never drops one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from bot.channels import ChannelError
from bot.messages import Reply

log = logging.getLogger(__name__)


def reply_from_row(row) -> Reply:
    return Reply(text=row["text"], group_id=row["group_id"], group_name=row["group_name"], to_id=row["to_id"],
                 to_name=row["to_name"], in_reply_to=row["message_key"], ticket=row["ticket"])


class Sender:
    def __init__(self, store, channel, retry_delay: float = 2.0, give_up_after: float = 24 * 3600):
        self.store, self.channel, self.retry_delay = store, channel, retry_delay
        self.give_up_after = give_up_after
        self._wake = asyncio.Event()
        self._said: set[int] = set()  # delivered, but the store could not record it yet

    def wake(self) -> None:
        self._wake.set()

    async def send_pending(self) -> int:
        sent = 0
        blocked: set[str] = set()
        for row in await self.store.unsent_replies():
            where = row["group_id"] or f"private:{row['to_id']}"
            if where in blocked:
                continue  # keep order within a chat: later replies there wait for this one
            if row["id"] not in self._said:
                try:
                    await self.channel.send(reply_from_row(row))
                except ChannelError as exc:
                    # Only this chat waits; a room the bot was removed from must not silence the others.
                    blocked.add(where)
                    if _age(row["created_at"]) > self.give_up_after:
                        log.error("reply %s to %s given up after %.0f h: %s", row["id"], where,
                                  self.give_up_after / 3600, exc)
                        await self.store.give_up_reply(row["id"], str(exc))
                    else:
                        log.warning("reply %s not delivered yet: %s", row["id"], exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - a poison reply: set aside, the rest go on
                    log.exception("reply %s to %s set aside: unexpected error", row["id"], where)
                    await self.store.give_up_reply(row["id"], f"unexpected error: {exc!r}")
                    continue
                # A store that cannot write (disk full) must not make the bot say this again and again.
                self._said.add(row["id"])
            await self.store.mark_sent(row["id"])
            self._said.discard(row["id"])
            sent += 1
        return sent

    async def run(self, stop: asyncio.Event, idle: float = 0.5) -> None:
        while not stop.is_set():
            self._wake.clear()  # before the pass: a wake during it means "look again", not lost
            try:
                sent = await self.send_pending()
            except Exception:
                log.exception("sending replies failed")
                sent = 0
            if not sent:
                try:
                    await asyncio.wait_for(self._wake.wait(), idle)
                except asyncio.TimeoutError:
                    pass


def _age(created_at: str) -> float:
    """Seconds since a stored ISO timestamp."""
    try:
        return (datetime.now(timezone.utc) - datetime.fromisoformat(created_at)).total_seconds()
    except (TypeError, ValueError):
        return 0.0
