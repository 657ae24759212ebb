"""One set of status words for everything people read: the bot's replies, the ledger and its CSV.

A ticket in the tracking backend is at one *stage*. Open311 itself knows only `open` and `closed`;
the reference backend also sends the stage (`"stage"` in its JSON reads), and for any other Open311
server the stage is read from the status and whether staff have written notes yet.

Before a ticket reaches the backend, the bot keeps it in a local state of its own (waiting for a
grid manager, waiting for its place, rejected…); those have words here too, so a grid manager
sees the same word in the chat, in the digest and on the ledger.
"""

from __future__ import annotations

from datetime import datetime

RECEIVED, IN_PROGRESS, CLOSED, RETURNED = "received", "in_progress", "closed", "returned"

STAGE_WORDS = {
    RECEIVED: "已受理",       # filed, nobody has acted on it yet
    IN_PROGRESS: "处理中",    # staff have acted (a note, an agency, a status change)
    CLOSED: "已办结",         # resolved: 销号
    RETURNED: "已退回",       # not taken: outside the district's remit, a duplicate, not a problem
}
STAGES = tuple(STAGE_WORDS)
OPEN_STAGES = (RECEIVED, IN_PROGRESS)

# What the bot's own ticket states read as, before (or instead of) a backend ticket.
LOCAL_WORDS = {  # keyed by the bot's ticket states (bot.tickets)
    "asking": "待补充地点",
    "awaiting": "待网格员确认",
    "queued": "登记中",
    "rejected": "已驳回",      # a grid manager decided it is not a complaint: the resident is not told
    "failed": "待人工登记",    # the backend refused it: a grid manager re-submits it
}


def stage_of(status: str | None, notes: str | None = None, stage: str | None = None) -> str:
    """The stage of a backend ticket: the backend's own word when it sends one, else from Open311."""
    if stage in STAGE_WORDS:
        return stage
    if status == "closed":
        return CLOSED
    return IN_PROGRESS if notes else RECEIVED


def word(status: str | None, notes: str | None = None, stage: str | None = None) -> str:
    """The Chinese word for a backend ticket's stage (已受理 / 处理中 / 已办结 / 已退回)."""
    return STAGE_WORDS[stage_of(status, notes, stage)]


def open311_status(stage: str) -> str:
    """The Open311 status of a stage: only 处理 stages are open; 已办结 and 已退回 are closed."""
    return "open" if stage in OPEN_STAGES else "closed"


# -- 督办: a ticket past its deadline reminds its grid manager; past a second deadline, an admin --

NOT_OVERDUE, OVERDUE, ESCALATED = "no", "overdue", "escalated"
OVERDUE_WORDS = {NOT_OVERDUE: "否", OVERDUE: "超期", ESCALATED: "督办"}


def overdue_level(is_open: bool, requested: datetime | int | None, expected: datetime | int | None,
                  now: datetime | int) -> str:
    """`overdue` once an open ticket is past its category's deadline (`expected`), `escalated` past a
    second deadline as long again (requested + 2 × (expected − requested)): its grid manager has been
    reminded for a whole deadline's length, and an admin is told too. Exactly at a deadline a ticket
    is not yet past it. Times are datetimes (the bot) or integer microseconds (the backend)."""
    if not is_open or expected is None or now <= expected:
        return NOT_OVERDUE
    if requested is not None and now > expected + (expected - requested):
        return ESCALATED
    return OVERDUE
