"""Delivers queued replies through the channel, oldest first, at least once.

A reply is marked sent only after the channel took it, so a crash in between may repeat one
reply after restart; it never drops one.
"""

from __future__ import annotations

import asyncio
import logging

from bot.channels import ChannelError
from bot.messages import Reply

log = logging.getLogger(__name__)


def reply_from_row(row) -> Reply:
    return Reply(text=row["text"], group_id=row["group_id"], group_name=row["group_name"], to_id=row["to_id"],
                 to_name=row["to_name"], in_reply_to=row["message_key"], ticket=row["ticket"])


class Sender:
    def __init__(self, store, channel, retry_delay: float = 2.0):
        self.store, self.channel, self.retry_delay = store, channel, retry_delay
        self._wake = asyncio.Event()
        self._said: set[int] = set()  # delivered, but the store could not record it yet

    def wake(self) -> None:
        self._wake.set()

    async def send_pending(self) -> int:
        sent = 0
        for row in await self.store.unsent_replies():
            if row["id"] not in self._said:
                try:
                    await self.channel.send(reply_from_row(row))
                except ChannelError as exc:
                    log.warning("reply %s not delivered yet: %s", row["id"], exc)
                    break  # keep order: later replies wait for this one
                # A store that cannot write (disk full) must not make the bot say this again and again.
                self._said.add(row["id"])
            await self.store.mark_sent(row["id"])
            self._said.discard(row["id"])
            sent += 1
        return sent

    async def run(self, stop: asyncio.Event, idle: float = 0.5) -> None:
        while not stop.is_set():
            try:
                sent = await self.send_pending()
            except Exception:
                log.exception("sending replies failed")
                sent = 0
            if not sent:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), idle)
                except asyncio.TimeoutError:
                    pass
