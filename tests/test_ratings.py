"""Ratings that tell the truth (issue 14, item 10): one per reporter per ticket (the last counts),
kept apart from the status, never changing it; satisfaction counts reporters."""

from __future__ import annotations

import sqlite3

from bot.tracker import TrackerClient
from tests.bot_harness import API_KEY, running_bot, settings_for

LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，麻烦尽快派人来修"


async def test_twenty_ratings_of_one_resident_count_once_and_never_touch_the_status(tmp_path, backend,
                                                                                   shipped_models, bot_env):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        await chat.say("王女士", LIGHT)
        await chat.settle()
        number = (await chat.bot.store.one("SELECT service_request_id FROM tickets"))["service_request_id"]
        async with TrackerClient(backend.base_url, API_KEY) as client:
            await client.update(number, "closed", status_notes="灯已换新")
            await chat.bot.poller.poll_once()
            await chat.settle()
            for i in range(20):
                await chat.say("王女士", "不满意" if i < 19 else "满意")
            await chat.settle()
            # Staff reopen it; a late rating must not close it again.
            await client.update(number, "open", status_notes="复查发现还有一盏不亮")
            await chat.say("王女士", f"不满意 {number}")
            await chat.settle()
            ticket = await client.get(number)
    assert ticket.status == "open" and ticket.status_notes == "复查发现还有一盏不亮"
    conn = sqlite3.connect(backend.db_path)
    try:
        rows = conn.execute("SELECT reporter, rating FROM ratings").fetchall()
        history_ratings = conn.execute("SELECT count(*) FROM status_history WHERE rating IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    assert len(rows) == 1 and rows[0][1] == "不满意"  # one reporter, their last word
    assert history_ratings == 0
