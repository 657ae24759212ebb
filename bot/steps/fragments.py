"""One person's message split over several sends (「3栋楼道」「灯坏了」「一个星期了」) is judged as one.

The sender's short messages just before this one, in the same chat, each within the split window of
the next and each judged "not a complaint" on its own, are put in front of it. When the whole makes a
ticket, those fragments become part of it (and are never judged again)."""

from __future__ import annotations

from datetime import datetime

from bot.store import ANSWERED, IGNORED

LONGEST_FRAGMENT = 40
MOST_FRAGMENTS = 5


async def run(turn) -> bool:
    if turn.msg.kind != "text" or not turn.msg.from_chat:  # a report arrives whole
        return False
    window = turn.settings.limits.split_window_seconds
    rows = await turn.recent(MOST_FRAGMENTS)
    later, parts = turn.msg.time, []
    for row in rows:
        sent = datetime.fromisoformat(row["sent_at"])
        if (later - sent).total_seconds() > window or row["kind"] != "text" or row["state"] not in (IGNORED, ANSWERED) \
                or row["note"] != "not a complaint" or row["ticket_id"] is not None \
                or len(row["text"]) > LONGEST_FRAGMENT:
            break
        parts.append(row)
        later = sent
    if parts:
        parts.reverse()
        turn.absorbed = tuple(r["key"] for r in parts)
        turn.text = " ".join([*(r["text"].strip() for r in parts), turn.text])
    return False
