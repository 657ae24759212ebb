"""A photo, voice note or file is not judged as text. A photo a resident sends soon after their own
report goes with that report's ticket."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot import tickets
from bot.store import IGNORED

IMAGE_FOLLOWS_WITHIN = timedelta(minutes=10)


async def run(turn) -> bool:
    msg = turn.msg
    if msg.kind == "text":
        return False
    note = await _attach(turn) if msg.kind == "image" and msg.media_url else None
    return await turn.finish(IGNORED, note=note or f"{msg.kind} message")


async def _attach(turn) -> str | None:
    msg = turn.msg
    before = await turn.store.one(
        "SELECT * FROM messages WHERE sender_id = ? AND group_id IS ? AND id < ? AND ticket_id IS NOT NULL"
        " ORDER BY id DESC LIMIT 1", (msg.sender_id, turn.chat[0], turn.row["id"]))
    if before is None:
        return None
    sent = datetime.fromisoformat(before["sent_at"])
    if abs(msg.time - sent) > IMAGE_FOLLOWS_WITHIN:
        return None
    row = await tickets.ticket(turn.store, before["ticket_id"])
    if row is None or row["state"] not in tickets.LIVE:
        return None
    attached = await tickets.attach_media(turn.store, row["id"], msg.media_url)
    return f"image for ticket #{row['id']}" + ("" if attached else " (kept locally: already filed)")
