"""The same problem reported again in the same group while its ticket is open joins that ticket.

"The same problem" is the same category, places that do not contradict each other (3栋 is never 7栋)
and the same thing (bot.places.same_problem), inside the merge window. The reporter's own repeat
is an addition to their ticket; a neighbour's is one more voice on it, told its number and status.
"""

from __future__ import annotations

from bot import places, replies, tickets
from bot.messages import NO_GROUP
from bot.steps.mode import silent
from bot.steps.turn import since


async def run(turn) -> bool:
    gazetteer = turn.group.places if turn.group else ()
    said_where = f"{turn.msg.place} {turn.text}" if turn.msg.place else turn.text  # a form's place counts
    turn.place = places.extract(said_where, gazetteer)
    limits = turn.settings.limits
    # A report without a group is compared with the other reports without one.
    group_name = turn.group.name if turn.group else None if turn.msg.from_chat else NO_GROUP
    if group_name is None or limits.merge_window_hours == 0 or silent(turn.settings, turn.msg):
        # 0 turns merging off; a group on trial is not told about tickets
        return False
    window = since(turn.msg.time, hours=limits.merge_window_hours)
    for candidate in await tickets.merge_candidates(turn.store, group_name, turn.label, window):
        if not places.same_problem(said_where, _with_place(candidate), gazetteer, limits.merge_similarity):
            continue
        number = candidate["service_request_id"]
        name = turn.intake.names.get(candidate["category"], candidate["category"])
        reporters = {r["reporter_id"] for r in await tickets.reporters(turn.store, candidate["id"])}
        if turn.msg.sender_id in reporters:  # their own repeat: an addition, and where it stands
            text = replies.repeat_of_own(name, number or f"#{candidate['id']}", candidate["status"],
                                         candidate["status_notes"], candidate["state"], candidate["stage"])
            await tickets.add_note(turn.store, candidate["id"], turn.key, " ".join(turn.text.split()), turn.sent_at,
                                   [*turn.said, turn.ctx.reply(text, ticket=number)])
            return True
        text = replies.ticket_joined(name, number, candidate["status"], candidate["status_notes"], candidate["id"],
                                     candidate["stage"])
        await tickets.join(turn.store, candidate["id"], turn.key, turn.msg.sender_id, turn.msg.sender_name,
                           turn.chat[0], turn.msg.group_name or group_name,
                           [*turn.said, turn.ctx.reply(text, ticket=number)])
        return True
    return False


def _with_place(ticket) -> str:
    """A ticket's words and the place it was filed with (a report's place may be only there)."""
    if ticket["place"] and ticket["source"] != "wechat":
        return f"{ticket['place']} {ticket['description']}"
    return ticket["description"]
