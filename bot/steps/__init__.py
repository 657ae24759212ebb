"""Intake's path, declared in one place: a message goes through these steps in order until one of
them finishes it (answers it, ignores it, files it, joins it to a ticket or waits for someone).

Each step is a module with one `async def run(turn) -> bool` (True when it finished the message)
and its own tests. A new concern is a new step here, not another `if` in intake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from bot.steps import (ask, classify, commands, emergency, followup, fragments, media, merge, mode,
                       place_answer, room, staff, ticket)
from bot.steps.turn import Turn


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Turn], Awaitable[bool]]
    first_pass_only: bool = False  # skipped when resuming a message that was classified before a crash


PATH: tuple[Step, ...] = (
    Step("command", commands.run, first_pass_only=True),        # 查询 …, 确认 …, 重新训练 …
    Step("staff", staff.run, first_pass_only=True),             # grid managers' own notices are not complaints
    Step("media", media.run, first_pass_only=True),             # a photo belongs to the sender's ticket
    Step("room", room.run),                                     # which group a complaint belongs to; length cap
    Step("emergency", emergency.run),                           # fire, gas, hurt, trapped…: the number first
    Step("place answer", place_answer.run, first_pass_only=True),  # the answer to "请问是哪栋楼？"
    Step("follow-up", followup.run, first_pass_only=True),      # "修了没有？", "补充一下…", status questions
    Step("fragments", fragments.run),                           # 「3栋楼道」「灯坏了」 are one message
    Step("classify", classify.run),                             # complaint of which category, or nothing
    Step("merge", merge.run),                                   # the same thing at the same place joins its ticket
    Step("ask", ask.run),                                       # no place: ask once
    Step("mode", mode.run),                                     # a group on trial: record it, say nothing
    Step("ticket", ticket.run),                                 # file it, or let the grid manager decide
)

__all__ = ["PATH", "Step", "Turn"]
