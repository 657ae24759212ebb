"""The group's mode decides what a complaint leads to (config.yaml `groups[].mode`):

- `live`: the bot files and answers (the ticket step);
- `confirm`: every would-be ticket goes to the group's grid manager first (the ticket step holds it);
- `observe`, the trial a new group starts in: the bot records what it would have done and says
  nothing in the group. The morning digest lists those would-be tickets, and the likely complaints
  it ignored, for the grid manager to review (bot.digest). An emergency still gets its number in the
  group and goes to the grid manager at once, held for them to confirm: no ticket is filed
  unasked in a group on trial.

A private complaint from someone last heard in an observe group is held for its grid manager.
"""

from __future__ import annotations

from bot.store import IGNORED

OBSERVE, CONFIRM, LIVE = "observe", "confirm", "live"
WOULD_FILE, WOULD_ASK = "observe: would file", "observe: would ask a grid manager"  # messages.note


def mode_of(turn) -> str:
    return turn.group.mode if turn.group is not None else LIVE


def silent(settings, msg) -> bool:
    """A message in a group on trial gets no answer in the group (emergencies aside)."""
    group = settings.group(msg.group_name) if msg.in_group else None
    return group is not None and group.mode == OBSERVE


async def run(turn) -> bool:
    if mode_of(turn) != OBSERVE or not turn.msg.in_group or not turn.msg.from_chat:
        return False
    if turn.emergency is not None:
        new = turn.intake.new_ticket(turn)
        await turn.intake.hold(new, turn.text, "observe emergency", turn.said, absorbed=turn.absorbed)
        return True
    sure = turn.confidence >= turn.settings.classifier.auto_ticket
    return await turn.finish(IGNORED, note=WOULD_FILE if sure else WOULD_ASK)


def held_reason(turn) -> str | None:
    """Why the ticket step holds a complaint for a grid manager because of the group's mode (a trial
    is of the bot's listening in a chat: a report someone chose to make is not held for it)."""
    if not turn.msg.from_chat:
        return None
    mode = mode_of(turn)
    return {CONFIRM: "confirm mode", OBSERVE: "observe mode"}.get(mode)
