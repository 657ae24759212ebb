"""Grid managers' and admins' own messages are notices, never complaints. In a private chat they
get the list of commands."""

from __future__ import annotations

from bot import replies
from bot.store import ANSWERED, IGNORED


async def run(turn) -> bool:
    ctx = turn.ctx
    if turn.msg.in_group and ctx.manages(turn.msg.group_name):
        return await turn.finish(IGNORED, note="staff message")
    if not turn.msg.in_group and (ctx.is_admin or ctx.managed_groups):
        return await turn.finish(ANSWERED, [ctx.reply(replies.help_text(True, ctx.is_admin))], note="staff, private")
    return False
