"""What happens once a day, at `digest.time` in the district's time zone: each grid manager gets
the morning digest of yesterday privately (bot.digest), and 督办: every ticket past its category's
deadline reminds its grid manager, once a day while it stays open; past a second deadline as long
again (common.status.overdue_level), an admin is reminded too.

Each is recorded in the same transaction as the messages it queues (`digests_sent`, `reminders`),
so a restart, a second pass or two bots on one store never send one twice, and a bot that was down
at eight sends them when it comes back that day.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta, timezone

from bot import digest, replies, tickets
from bot.messages import Reply
from bot.store import now_iso
from common import status

log = logging.getLogger(__name__)


def due_day(settings, now: datetime) -> date | None:
    """Today's date in the district when the daily time has come, else None."""
    local = now.astimezone(settings.zone)
    return local.date() if (local.hour, local.minute) >= settings.digest.hour_minute else None


async def send_digests(settings, store, model, names: dict[str, str], now: datetime) -> int:
    """Queue yesterday's digest for every grid manager who has not had it; returns how many."""
    staff_names = settings.staff_names
    today = due_day(settings, now)
    if today is None:
        return 0
    day = today - timedelta(days=1)
    sent = 0
    done = {r["manager_id"] for r in await store.all("SELECT manager_id FROM digests_sent WHERE day = ?",
                                                     (day.isoformat(),))}
    for manager in settings.managers():
        if manager in done:  # one read per pass, not one per manager every 30 s
            continue
        d = await digest.build(settings, store, model, manager, day, now)
        texts = [] if digest.empty(d) else replies.digest(settings, d, names, staff_names.get(manager))
        async with store.transaction() as db:
            cur = await db.execute("INSERT OR IGNORE INTO digests_sent (manager_id, day, sent_at) VALUES (?,?,?)",
                                   (manager, day.isoformat(), now_iso()))
            if cur.rowcount == 0 or not texts:
                continue  # another pass got there first, or a quiet day with nothing open
            for text in texts:
                await store._queue_reply(db, Reply(text, None, None, manager, staff_names.get(manager)), None)
        sent += 1
    return sent


async def supervise(settings, store, names: dict[str, str], now: datetime) -> int:
    """Queue today's 督办 reminders; returns how many people were reminded."""
    staff_names = settings.staff_names
    today = due_day(settings, now)
    if today is None:
        return 0
    day = today.isoformat()
    rows = await store.all("SELECT * FROM tickets WHERE state = ? AND expected_datetime IS NOT NULL ORDER BY id",
                           (tickets.T_OPEN,))
    # Who was reminded of what today, read once: a pass every 30 s writes only what is new.
    told = {(r["ticket_id"], r["level"], r["to_id"])
            for r in await store.all("SELECT ticket_id, level, to_id FROM reminders WHERE day = ?", (day,))}
    to_managers: dict[str, list] = {}
    to_admins: dict[str, list] = {}
    for row in rows:
        level = digest.overdue_level(row, now)
        if level == status.NOT_OVERDUE:
            continue
        for who in settings.responsible(row["group_name"]):
            if (row["id"], status.OVERDUE, who) not in told:
                to_managers.setdefault(who, []).append(row)
        if level == status.ESCALATED:
            for who in settings.admins:
                if (row["id"], status.ESCALATED, who) not in told:
                    to_admins.setdefault(who, []).append(row)
    reminded = 0
    for who, level, found in [*((w, status.OVERDUE, r) for w, r in to_managers.items()),
                              *((w, status.ESCALATED, r) for w, r in to_admins.items())]:
        async with store.transaction() as db:
            fresh = []
            for row in found:
                cur = await db.execute("INSERT OR IGNORE INTO reminders (ticket_id, day, level, to_id) VALUES (?,?,?,?)",
                                       (row["id"], day, level, who))
                if cur.rowcount:
                    fresh.append(row)
            if not fresh:
                continue
            if level == status.OVERDUE:
                text = replies.supervise_manager([(r["service_request_id"], names.get(r["category"], r["category"]),
                                                   r["description"], r["expected_datetime"]) for r in fresh])
            else:
                text = replies.supervise_admin([(r["service_request_id"], names.get(r["category"], r["category"]),
                                                 r["group_name"], r["description"], r["expected_datetime"]) for r in fresh])
            await store._queue_reply(db, Reply(text, None, None, who, staff_names.get(who)), None)
            reminded += 1
    return reminded


async def tick(bot, now: datetime | None = None) -> int:
    """One pass of the daily work; returns how many messages it queued."""
    now = now or datetime.now(timezone.utc)
    intake = bot.intake
    queued = await send_digests(bot.settings, bot.store, bot.live_model.model, intake.names, now)
    return queued + await supervise(bot.settings, bot.store, intake.names, now)


async def run(bot, stop: asyncio.Event, wake, interval: float = 30.0) -> None:
    while not stop.is_set():
        try:
            if await tick(bot):
                wake()
        except Exception:  # noqa: BLE001 - the next pass tries again
            log.exception("the daily digest or 督办 pass failed")
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except asyncio.TimeoutError:
            pass
