"""A command (查询 …, 我的工单, 确认 …, 重新训练 …) is answered and goes no further."""

from __future__ import annotations

from bot.commands import command_text, dispatch, router
from bot.steps.mode import silent
from bot.store import ANSWERED


async def run(turn) -> bool:
    if turn.msg.kind != "text" or silent(turn.settings, turn.msg):
        return False  # a group on trial hears nothing from the bot, commands included
    answer = await dispatch(router, turn.ctx, command_text(turn.msg.text, turn.settings.bot_names))
    if answer is None:
        return False
    return await turn.finish(ANSWERED, answer, note="command")
