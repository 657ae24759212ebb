"""Which group a complaint belongs to: the group it was posted in, or, for a private message, the
group the sender was last heard in (None when they were never heard in one: an admin decides).
Also caps what is judged: a novel pasted into the chat is classified on its beginning only."""

from __future__ import annotations


async def run(turn) -> bool:
    settings = turn.settings
    if turn.msg.in_group or not turn.msg.from_chat:  # a report names its group itself, or none
        turn.group = settings.group(turn.msg.group_name)
    else:
        seen = await turn.store.one(
            "SELECT group_name FROM messages WHERE sender_id = ? AND in_group = 1 ORDER BY id DESC LIMIT 1",
            (turn.msg.sender_id,))
        turn.group = settings.group(seen["group_name"]) if seen else None
    turn.text = turn.text[: settings.limits.message_chars]
    return False
