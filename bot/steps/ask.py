"""A complaint that names no place is asked about once, @-mentioning the resident
(「请问是哪栋楼附近的路灯？」). Their answer (bot.steps.place_answer) completes the ticket; without one
inside the window, it is filed with the group's community as its place and the grid manager is told.
Emergencies are never held up, and some categories (wages, pensions…) need no place."""

from __future__ import annotations

from bot import replies, tickets
from bot.steps.mode import silent

# Problems of a person, not of a spot: asking "where?" about unpaid wages would only annoy.
NO_PLACE_NEEDED = frozenset({"wages", "social", "funeral", "property_rights", "housing", "rural_assets", "food",
                             "security", "other"})


async def run(turn) -> bool:
    if turn.emergency is not None or not turn.place.empty or turn.label in NO_PLACE_NEEDED \
            or turn.settings.limits.ask_window_minutes == 0 or silent(turn.settings, turn.msg) \
            or not turn.msg.from_chat:  # nobody to ask: a report's place is what its form gave
        # 0 turns asking off; in a group on trial the bot asks nobody
        return False
    question = turn.ctx.reply(replies.ask_place(turn.label, turn.text))
    turn.intake.asking = True
    await tickets.open_ticket(turn.store, turn.intake.new_ticket(turn), tickets.T_ASKING, None,
                              lambda _id: [*turn.said, question], absorbed=turn.absorbed)
    return True
