"""A real bot for scenario tests: real store file, real model, real backend on a loopback port.

The only stand-in is the channel: a list that records what the bot says, exactly as a chat
adapter would receive it.
"""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from pathlib import Path

from bot import config
from bot.messages import IncomingMessage, Reply
from bot.runtime import open_bot
from bot.sender import Sender

API_KEY = "test-bot-key"
GROUP = "景湖名都业主群"
VILLAGE = "彭家场村村民群"
MANAGER = "wxid_li"
VILLAGE_MANAGER = "wxid_zhou"
ADMIN = "wxid_admin"


def settings_for(tmp: Path, base_url: str, model_dir: Path, **overrides) -> config.Settings:
    data = {
        "channel": "console",
        "groups": [
            {"name": GROUP, "community": "太湖港街道彭家场社区", "grid_managers": [MANAGER], "mode": "live"},
            {"name": VILLAGE, "community": "太湖港街道彭家场村", "grid_managers": [VILLAGE_MANAGER], "mode": "live"},
        ],
        "admins": [ADMIN],
        "tracker": {"base_url": base_url, "api_key_env": "GRIDBOT_TEST_API_KEY", "timeout": 5,
                    "poll_interval": 3600},
        "store": {"path": str(tmp / "bot.db")},
        "classifier": {"model_dir": str(model_dir), "ignore_below": 0.45, "auto_ticket": 0.6},
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[section] = value
    return config.parse(data, "test", tmp)


class ListChannel:
    def __init__(self):
        self.sent: list[Reply] = []

    async def send(self, reply: Reply) -> None:
        self.sent.append(reply)

    async def run(self, on_message) -> None:
        return None

    async def stop(self) -> None:
        return None


class Chat:
    """Drive a bot like a group chat: `await chat.say("王女士", "路灯坏了")` returns what the bot said."""

    def __init__(self, bot, channel: ListChannel):
        self.bot, self.channel = bot, channel
        self.sender = Sender(bot.store, channel)
        self._ids = itertools.count(1)

    def message(self, name: str, text: str, group: str | None = GROUP, sender_id: str | None = None,
                message_id: str | None = None) -> IncomingMessage:
        return IncomingMessage(message_id=message_id or f"m{next(self._ids)}", group_id=group and f"{group}@chatroom",
                               group_name=group, sender_id=sender_id or f"wxid_{name}", sender_name=name,
                               text=text, in_group=group is not None)

    async def deliver(self, msg: IncomingMessage) -> list[Reply]:
        before = len(self.channel.sent)
        await self.bot.handle(msg)
        await self.bot.outbox.run_once()
        await self.sender.send_pending()
        return self.channel.sent[before:]

    async def say(self, name: str, text: str, **kwargs) -> list[Reply]:
        return await self.deliver(self.message(name, text, **kwargs))

    async def settle(self) -> list[Reply]:
        before = len(self.channel.sent)
        await self.bot.outbox.drain(30)
        await self.sender.send_pending()
        return self.channel.sent[before:]


@asynccontextmanager
async def running_bot(settings: config.Settings):
    async with open_bot(settings) as bot:
        await bot.intake.resume()
        yield Chat(bot, ListChannel())
