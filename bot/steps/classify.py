"""The classifier's verdict: a category and a confidence, stored before anything acts on it (a
restart resumes from here). Not a complaint, or too unsure: stored, nothing said. An emergency is a
complaint whatever the verdict."""

from __future__ import annotations

from bot import places, replies, tickets
from bot.steps.turn import since
from bot.store import ANSWERED, CLASSIFIED, IGNORED, RECEIVED
from classifier.corpus import NONE


async def run(turn) -> bool:
    if turn.row["state"] == RECEIVED:
        turn.label, turn.confidence = await turn.intake.live_model.aclassify(turn.text)
        await turn.store.set_state(turn.key, CLASSIFIED, label=turn.label, confidence=turn.confidence)
    else:
        turn.label, turn.confidence = turn.row["label"], turn.row["confidence"] or 0.0
    unsure = turn.label == NONE or turn.confidence < turn.settings.classifier.ignore_below
    if turn.emergency is None and not places.things(turn.text):
        unsure = True  # a place alone (「3栋楼道」) is the start of a report, not one: wait for the rest
    elif unsure and turn.emergency is None:
        repeated = await _repeat_of_open_ticket(turn)
        if repeated is not None:  # 「三栋那边的灯怎么还黑着」: the model hesitates, the open ticket does not
            turn.label, unsure = repeated, False
    if turn.emergency is not None:
        if unsure:
            turn.label = turn.emergency.category
        return False
    if unsure and not turn.msg.from_chat:
        # Someone chose to report it (a hotline call, the platform, the web form): it is never
        # dropped. A grid manager (or an admin, without a group) looks at what the model doubts.
        turn.label, turn.review = (turn.label if turn.label != NONE else "other"), True
        return False
    if unsure and not turn.msg.in_group:
        # Someone talking to the bot directly gets an answer: what it can do.
        return await turn.finish(ANSWERED, [turn.ctx.reply(replies.help_text(False, False))], note="not a complaint")
    if unsure:
        return await turn.finish(IGNORED, note="not a complaint")
    return False


async def _repeat_of_open_ticket(turn) -> str | None:
    """The category of an open ticket of this group that a hesitant message clearly repeats."""
    if turn.group is None or not places.AGAIN.search(turn.text):
        return None
    limits = turn.settings.limits
    rows = await tickets.merge_candidates(turn.store, turn.group.name, None,
                                          since(turn.msg.time, hours=limits.merge_window_hours), limit=50)
    gazetteer = turn.group.places
    for row in rows:
        if places.same_problem(turn.text, row["description"], gazetteer, limits.merge_similarity):
            return row["category"]
    return None
