"""A terminal channel: type as residents, grid managers and admins of the configured groups.

    /as 王女士@景湖名都业主群    speak as 王女士 in that group
    /as 小李@景湖名都业主群      speak as grid manager 小李 (config: console.people maps names to ids)
    /private                    speak to the bot privately as the current person
    /who, /groups, /help, /quit
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import time
import uuid
from typing import TextIO

from bot.channels import OnMessage
from bot.messages import IncomingMessage, Reply


class ConsoleChannel:
    def __init__(self, settings, src: TextIO = sys.stdin, out: TextIO = sys.stdout):
        self.settings, self.src, self.out = settings, src, out
        self.people: dict[str, str] = dict(getattr(settings, "console_people", {}) or {})
        first = settings.groups[0].name
        self.name, self.group, self.private = "居民", first, False
        self._stopped = False
        self._ids = itertools.count(1)
        self._session = uuid.uuid4().hex[:8]

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def sender_id(self, name: str) -> str:
        return self.people.get(name, f"console:{name}")

    def _read_lines(self, loop, queue: asyncio.Queue) -> None:
        # A daemon thread, not the loop's executor: a blocked readline must not hold up shutdown.
        for line in iter(self.src.readline, ""):
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    async def run(self, on_message: OnMessage) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        threading.Thread(target=self._read_lines, args=(loop, queue), daemon=True, name="console-input").start()
        self.say(__doc__.split("\n\n", 1)[1].rstrip())
        self.say(f"现在：{self.name}@{self.group}")
        while not self._stopped:
            line = await queue.get()
            if line is None:
                return
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("/"):
                if self.command(line.strip()) == "quit":
                    return
                continue
            await on_message(self.message(line))

    def message(self, text: str) -> IncomingMessage:
        group = None if self.private else self.group
        return IncomingMessage(message_id=f"console-{self._session}-{next(self._ids)}", group_id=group,
                               group_name=group, sender_id=self.sender_id(self.name), sender_name=self.name,
                               text=text, in_group=not self.private)

    def command(self, line: str) -> str | None:
        verb, _, arg = line.partition(" ")
        if verb == "/quit":
            return "quit"
        if verb == "/as" and "@" in arg:
            name, _, group = arg.strip().partition("@")
            if self.settings.group(group) is None:
                self.say(f"（注意：{group} 不在 config.yaml 的群列表里，消息会被忽略）")
            self.name, self.group, self.private = name.strip(), group.strip(), False
        elif verb == "/private":
            self.private = True
        elif verb == "/groups":
            for g in self.settings.groups:
                self.say(f"{g.name}（{g.community}），网格员：{', '.join(g.grid_managers) or '无'}")
        elif verb == "/who":
            pass
        else:
            self.say(__doc__)
        where = "私聊" if self.private else self.group
        self.say(f"现在：{self.name}（{self.sender_id(self.name)}）@{where}")
        return None

    async def send(self, reply: Reply) -> None:
        to = reply.to_name or reply.to_id or ""
        where = f"【{reply.group_name}】" if reply.group_name else f"【私聊 {to}】"
        mention = f"@{to} " if reply.group_name and to else ""
        self.say(f"{time.strftime('%H:%M:%S')} {where}{mention}{reply.text}")

    async def stop(self) -> None:
        self._stopped = True
