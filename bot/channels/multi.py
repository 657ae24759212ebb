"""Several channels at once (`channels:` in config.yaml): the chat channel (WeChat or the console)
and the http channel. Each runs on its own; a reply goes to the channel its addressee talks on
(`owns(reply)`), else to the chat channel. One channel going dark does not stop the others: its
replies wait in the store while the rest keep taking reports."""

from __future__ import annotations

import asyncio
import logging

from bot.messages import Reply

log = logging.getLogger(__name__)


class MultiChannel:
    def __init__(self, channels: list):
        self.channels = channels

    @property
    def chat(self):
        return self.channels[0]

    def route(self, reply: Reply):
        for channel in self.channels:
            owns = getattr(channel, "owns", None)
            if owns is not None and owns(reply):
                return channel
        return self.chat

    async def send(self, reply: Reply) -> None:
        await self.route(reply).send(reply)

    async def run(self, on_message) -> None:
        """Until every channel ends (a piped console whose input ended and an http channel stopped),
        or one fails: that failure stops the bot, as it would with that channel alone."""
        tasks = [asyncio.create_task(c.run(on_message), name=f"channel-{type(c).__name__}") for c in self.channels]
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        raise task.exception()
                if tasks[0] in done:
                    return  # the chat channel ended (the console's input, a stop): the session is over
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        for channel in self.channels:
            try:
                await channel.stop()
            except Exception:  # noqa: BLE001 - stop the rest all the same
                log.exception("stopping %s failed", type(channel).__name__)

    def link_down_since(self) -> float | None:
        probe = getattr(self.chat, "link_down_since", None)
        return probe() if probe else None
