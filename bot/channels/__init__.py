"""Channels connect intake to people: console (a terminal), wechaty (WeChat groups).

Every import of a chat SDK stays inside this package; intake only sees IncomingMessage and Reply.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol

from bot.messages import IncomingMessage, Reply

OnMessage = Callable[[IncomingMessage], Awaitable[None]]


class ChannelError(RuntimeError):
    """The channel cannot deliver right now; the reply stays queued and is tried again."""


class Channel(Protocol):
    async def run(self, on_message: OnMessage) -> None:
        """Deliver incoming messages to `on_message` until stopped or the input ends."""

    async def send(self, reply: Reply) -> None:
        """Say `reply` in its group (mentioning its addressee) or privately; ChannelError if not now."""

    async def stop(self) -> None:
        """Stop taking messages."""
