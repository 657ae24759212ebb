"""The same problem reported again in the same group while its ticket is open joins that ticket.

"The same problem" is the same category, places that do not contradict each other (3栋 is never 7栋)
and the same thing (bot.places.same_problem), inside the merge window. The reporter's own repeat
is an addition to their ticket; a neighbour's is one more voice on it, told its number and status.
"""

from __future__ import annotations

from bot import places, replies, tickets
from bot.steps.mode import silent
from bot.steps.turn import since


async def run(turn) -> bool:
    gazetteer = turn.group.places if turn.group else ()
    turn.place = places.extract(turn.text, gazetteer)
    limits = turn.settings.limits
    if turn.group is None or limits.merge_window_hours == 0 or silent(turn.settings, turn.msg):
        # 0 turns merging off; a group on trial is not told about tickets
        return False
    window = since(turn.msg.time, hours=limits.merge_window_hours)
    for candidate in await tickets.merge_candidates(turn.store, turn.group.name, turn.label, window):
        if not places.same_problem(turn.text, candidate["description"], gazetteer, limits.merge_similarity):
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
                           turn.chat[0], turn.msg.group_name or turn.group.name,
                           [*turn.said, turn.ctx.reply(text, ticket=number)])
        return True
    return False
