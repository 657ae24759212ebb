"""File the complaint. Sure enough (or an emergency): the ticket goes to the backend now. Unsure, or
past the sender's hourly limit: it waits in the grid manager's 待确认, asked privately; the resident
is told nothing about confidence, and in a group nothing at all until the manager decides."""

from __future__ import annotations

from datetime import timedelta

from bot import replies, tickets
from bot.messages import where_from
from bot.steps import mode
from bot.steps.turn import utc_iso


async def run(turn) -> bool:
    intake, msg = turn.intake, turn.msg
    new = intake.new_ticket(turn)
    if turn.emergency is not None:
        alert = intake.tell_managers(turn.group, replies.emergency_alert(
            turn.emergency.name, turn.group.name if turn.group else "私聊" if msg.from_chat else where_from("", msg.source),
            msg.sender_name, turn.text), turn.key)
        await intake.file(new, turn.said + alert, absorbed=turn.absorbed)
        return True
    hour_ago = utc_iso(msg.time - timedelta(hours=1))
    limit = turn.settings.limits.reports_per_hour
    over_limit = await tickets.recent_reports(turn.store, msg.sender_id, hour_ago) >= limit
    unsure = turn.confidence < turn.settings.classifier.auto_ticket
    by_mode = mode.held_reason(turn)  # a group in confirm (or observe) mode: its grid manager decides
    no_group = turn.group is None and turn.msg.from_chat  # a report may come without one: an admin assigns it
    unsure = unsure or turn.review
    if no_group or over_limit or unsure or by_mode:
        reason = ("unknown group" if no_group else "rate limited" if over_limit
                  else "report to review" if turn.review else by_mode if by_mode and not unsure else None)
        told = []
        if not msg.in_group:
            told = [turn.ctx.reply(replies.awaiting_manager())]
        elif over_limit and not await turn.store.one(
                "SELECT 1 FROM messages WHERE sender_id = ? AND note = 'rate limited' AND sent_at >= ?",
                (msg.sender_id, hour_ago)):
            told = [turn.ctx.reply(replies.rate_limited(limit))]  # once an hour, not once a message
        await intake.hold(new, turn.text, reason, [*turn.said, *told], absorbed=turn.absorbed)
        return True
    await intake.file(new, turn.said, absorbed=turn.absorbed)
    return True
