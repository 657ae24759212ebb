"""An emergency happening now gets the number to call at once, whatever the classifier thinks; the
ticket step files it without asking anyone and alerts the grid manager privately."""

from __future__ import annotations

from bot import emergency as rules
from bot import replies


async def run(turn) -> bool:
    if turn.msg.kind != "text":
        return False
    found = rules.detect(turn.text)
    if found is not None:
        turn.emergency = found
        turn.said.append(turn.ctx.reply(replies.emergency_advice(found.kind, rules.numbers(found.kind, turn.settings))))
    return False
