"""Call-back without exposing anyone's id: `回复 GX… 文字` passes words between a ticket's grid
manager and the residents who reported it, through the bot.

- A grid manager's (or admin's) 回复 reaches every reporter of the ticket where they reported it
  (in their group with an @-mention, or privately), and is kept in the ticket's history.
- A reporter's 回复 reaches the ticket's grid managers privately and goes into the history as the
  resident's reply (`from=resident`).
- Notes staff mark 「给居民」 on the ledger arrive through the backend's feed and are passed on the
  same way (`relay_ledger_notes`, run by the status poller).

Nobody else's ticket can be reached: a number the sender may not see is answered like a missing one.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from bot import replies, tickets
from bot.commands import Context, find_ticket, router
from bot.messages import Reply

log = logging.getLogger(__name__)
MAX_RELAY_CHARS = 500
FEED_CURSOR = "resident_notes_after"


@router.command("回复", "留言", args=r"(?P<number>[#A-Za-z]{0,6}\s*-?\s*\d[\d\s-]{0,20}?)\s+(?P<text>\S.*)",
                usage="回复 工单号 要说的话（例如：回复 GX20261124-0007 师傅明天上午来修）", strict="in groups")
async def reply_on_ticket(ctx: Context, m: re.Match) -> list[Reply]:
    row, refusal = await find_ticket(ctx, m["number"].strip())
    if refusal:
        return refusal
    text = _as_written(ctx.msg.text, " ".join(m["text"].split()))[:MAX_RELAY_CHARS]
    number = row["service_request_id"]
    ref = number or f"#{row['id']}"
    reporters = {r["reporter_id"] for r in await tickets.reporters(ctx.store, row["id"])}
    if ctx.manages(row["group_name"]) and ctx.msg.sender_id not in reporters:
        said = await tickets.tell_reporters(ctx.store, row["id"], number, replies.from_manager(ref, text))
        note = {"note": f"网格员回复居民：{text}"} if number else None
        await tickets.relay(ctx.store, row["id"], ctx.msg.message_id, note, said)
        return [ctx.reply(replies.relayed_to_residents(ref, len(said)), private=True)]
    said = ctx.to_managers(row["group_name"], replies.from_resident(ref, ctx.msg.sender_name, row["group_name"], text),
                           number)
    note = {"note": f"居民回复：{text}", "from": "resident"} if number else None
    await tickets.relay(ctx.store, row["id"], ctx.msg.message_id, note, said)
    return [ctx.reply(replies.relayed_to_manager(ref), ticket=number)]


def _as_written(original: str, folded: str) -> str:
    """The words to pass on as the sender wrote them (full-width ，not folded to ,), when they can be
    found in the original message; else as the command parser read them."""
    found = re.search(r"(?:回复|留言)[\s:：]*\S+\s+(.+)", original, re.S)
    if found:
        words = " ".join(found.group(1).split())
        if " ".join(unicodedata.normalize("NFKC", words).split()) == folded:
            return words
    return folded


async def relay_ledger_notes(store, tracker, names: dict[str, str], state: dict) -> int:
    """Pass on the notes staff marked 「给居民」 on the ledger since the last one passed on. Returns
    how many; a backend without the feed is asked once and then left alone (`state`)."""
    if state.get("no_feed"):
        return 0
    after = int(await store.meta(FEED_CURSOR) or 0)
    notes = await tracker.resident_notes(after)
    if notes is None:
        state["no_feed"] = True
        log.info("the tracking backend has no resident-notes feed: notes for residents are not relayed")
        return 0
    passed = 0
    for note in notes:
        row = await store.one("SELECT * FROM tickets WHERE service_request_id = ?", (note["service_request_id"],))
        said = []
        if row is not None:
            said = await tickets.tell_reporters(store, row["id"], note["service_request_id"], replies.from_manager(
                note["service_request_id"], " ".join(note["text"].split())[:MAX_RELAY_CHARS]))
        async with store.transaction() as db:
            for reply in said:
                await store._queue_reply(db, reply, None)
            await store._set_meta(db, FEED_CURSOR, str(note["id"]))
        passed += bool(said)
    return passed
