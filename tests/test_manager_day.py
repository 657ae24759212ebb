"""The grid manager's day (issue 15): group modes, the morning digest with its reviews, and 督办.

Replayed days go through `python -m bot replay` and `python -m bot digest` as a district would run
them; reminders and the scheduled digest run in a real bot on a real store against the reference
backend, with the clock given to them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from bot import daily
from bot.tracker import TrackerClient
from tests.bot_harness import ADMIN, API_KEY, GROUP, MANAGER, VILLAGE, VILLAGE_MANAGER, running_bot, settings_for
from tests.test_conversation import LIGHT, NUMBER, ROOT, history, replay, staff, tickets
from tests.test_conversation import line as chat_line

pytestmark = pytest.mark.usefixtures("bot_env")
WATER = "5栋家里自来水没水了，从昨天晚上停到现在，也没通知，做饭都没法做"
CHAT = "今天天气真好，晚上广场见"


def trial_groups(mode: str = "observe") -> list[dict]:
    return [{"name": GROUP, "community": "太湖港街道彭家场社区", "grid_managers": [MANAGER], "mode": mode},
            {"name": VILLAGE, "community": "太湖港街道彭家场村", "grid_managers": [VILLAGE_MANAGER], "mode": "live"}]


def digest_cli(tmp_path, day: str, manager: str | None = MANAGER) -> str:
    args = [sys.executable, "-m", "bot", "digest", "--config", str(tmp_path / "config.yaml"), "--date", day]
    if manager:
        args += ["--manager", manager]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_group_in_observe_hears_nothing_and_its_digest_lists_what_would_have_been_filed(
        tmp_path, backend, shipped_models):
    said = replay(tmp_path, backend, shipped_models[0], [
        chat_line("o1", "王女士", LIGHT, 0),
        chat_line("o2", "张阿姨", CHAT, 5),
        chat_line("o3", "老刘", WATER, 30),
        chat_line("o4", "小陈", "查询 GX20261202-0001", 40),
    ], groups=trial_groups())
    assert [r for r in said if r["group"]] == [], said      # not a word in the group
    assert said == []                                       # nor privately: nothing needed a manager now
    assert tickets(backend) == []                           # and nothing filed
    out = digest_cli(tmp_path, "2026-12-02")
    assert "试运行" in out and "日本会登记的工单 2 件" in out, out
    assert "1. 【路灯照明】王女士" in out and "2. 【" in out and "老刘" in out, out
    assert "张阿姨" not in out                               # chit-chat is not a likely complaint
    assert "已复核 0 条" in out and "逐条复核" in out

    # The manager reviews from their private chat; each review moves the measured precision.
    said = replay(tmp_path, backend, shipped_models[0], [
        staff("r1", MANAGER, "小李", "对 1", 24 * 60),
        staff("r2", MANAGER, "小李", "错 2", 24 * 60 + 1),
        staff("r3", MANAGER, "小李", "对 9", 24 * 60 + 2),
        chat_line("r4", "王女士", "对 1 我也觉得", 24 * 60 + 3, group=None),
    ], groups=trial_groups())
    texts = {r["in_reply_to"]: r["text"] for r in said}
    assert "已记录第 1 条" in texts["r1"] and "准确率 100%" in texts["r1"], texts
    assert "已记录第 2 条" in texts["r2"] and "准确率 50%" in texts["r2"], texts
    assert "没有第 9 条" in texts["r3"]
    assert "没有权限" not in texts.get("r4", "")             # a resident's 「对 1 …」 is not a review
    out = digest_cli(tmp_path, "2026-12-02")
    assert "已复核 2 条，准确率 50%" in out, out
    assert "1. 【路灯照明】王女士" in out                     # the numbers stay what they were
    conn = sqlite3.connect(tmp_path / "bot.db")
    labels = dict(conn.execute("SELECT m.text, d.label FROM decisions d JOIN messages m ON m.key = d.message_key"))
    conn.close()
    assert labels == {LIGHT: "lighting", WATER: "none"}      # labelled examples for retraining


def test_an_emergency_in_a_group_on_trial_still_gets_its_number_and_the_manager(tmp_path, backend, shipped_models):
    said = replay(tmp_path, backend, shipped_models[0], [
        chat_line("e1", "王女士", "3栋2单元楼道里好大一股煤气味，好像漏气了，快来人", 0),
    ], groups=trial_groups())
    in_group = [r["text"] for r in said if r["group"]]
    private = [r for r in said if not r["group"]]
    assert len(in_group) == 1 and ("燃气" in in_group[0] or "119" in in_group[0]), said
    assert [r["to"] for r in private] == ["小李"] and "试运行" in private[0]["text"], said
    assert "确认" in private[0]["text"]
    assert tickets(backend) == []                           # filed only when the manager confirms


def test_in_confirm_mode_every_would_be_ticket_goes_to_the_manager_first(tmp_path, backend, shipped_models):
    said = replay(tmp_path, backend, shipped_models[0], [
        chat_line("c1", "王女士", LIGHT, 0),
    ], groups=trial_groups("confirm"))
    assert [r["to"] for r in said] == ["小李"] and "确认模式" in said[0]["text"], said
    assert tickets(backend) == []
    said = replay(tmp_path, backend, shipped_models[0], [staff("c2", MANAGER, "小李", "确认 1", 10)],
                  groups=trial_groups("confirm"))
    made = tickets(backend)
    assert len(made) == 1 and made[0]["service_code"] == "lighting"
    resident = [r for r in said if r["to"] == "王女士"]
    assert resident and made[0]["ticket"] in resident[0]["text"] and resident[0]["group"] == GROUP, said
    out = digest_cli(tmp_path, "2026-12-02")
    assert "确认模式" in out and "已复核 1 条，准确率 100%" in out, out


def test_a_group_without_a_mode_is_on_trial():
    from bot import config
    settings = config.parse({"groups": [{"name": "新群"}], "tracker": {"base_url": "http://127.0.0.1:1"},
                             "store": {"path": "x.db"}, "classifier": {}})
    assert settings.group("新群").mode == "observe"
    with pytest.raises(config.ConfigError, match=r"groups\[0\]\.mode"):
        config.parse({"groups": [{"name": "新群", "mode": "on"}], "tracker": {"base_url": "http://127.0.0.1:1"},
                      "store": {"path": "x.db"}, "classifier": {}})


# -- 督办 and the scheduled digest, in a running bot with the clock given ------------------------

@pytest.fixture()
def settings(tmp_path, backend, shipped_models):
    return settings_for(tmp_path, backend.base_url, shipped_models[0],
                        console={"people": {"小李": MANAGER, "管理员": ADMIN}})


async def queued(store, since_id: int) -> list:
    return await store.all("SELECT * FROM replies WHERE id > ? ORDER BY id", (since_id,))


async def last_reply_id(store) -> int:
    row = await store.one("SELECT COALESCE(MAX(id), 0) AS n FROM replies")
    return row["n"]


async def test_an_overdue_ticket_reminds_its_manager_once_a_day_and_an_admin_after_a_second_deadline(settings):
    async with running_bot(settings) as chat:
        await chat.say("王女士", LIGHT)
        await chat.settle()
        bot = chat.bot
        row = await bot.store.one("SELECT * FROM tickets")
        assert row["expected_datetime"], row
        created = datetime.fromisoformat(row["created_at"])
        expected = datetime.fromisoformat(row["expected_datetime"])
        deadline = expected - created
        names = bot.intake.names

        async def remind(now):
            before = await last_reply_id(bot.store)
            await daily.supervise(settings, bot.store, names, now)
            return [(r["to_id"], r["text"]) for r in await queued(bot.store, before)]

        morning = lambda when: datetime.combine(  # noqa: E731  09:00 in the district on that day
            when.astimezone(settings.zone).date(), datetime.min.time().replace(hour=9), settings.zone)
        assert await remind(morning(expected - timedelta(days=1))) == []           # not yet overdue
        day1 = morning(expected + timedelta(days=1))
        first = await remind(day1)
        assert [who for who, _ in first] == [MANAGER] and "督办提醒" in first[0][1]
        assert row["service_request_id"] in first[0][1]
        assert await remind(day1 + timedelta(hours=3)) == []                       # once a day
        assert [who for who, _ in await remind(day1 + timedelta(days=1))] == [MANAGER]   # and again tomorrow
        late = await remind(morning(expected + deadline + timedelta(days=1)))
        assert sorted(who for who, _ in late) == sorted([MANAGER, ADMIN]), late
        assert any("报管理员" in text for who, text in late if who == ADMIN)
        # Closed: no more reminders.
        await bot.store.db.execute("UPDATE tickets SET state = 'closed'")
        await bot.store.db.commit()
        assert await remind(morning(expected + deadline + timedelta(days=2))) == []


async def test_the_morning_digest_goes_out_once_at_its_time(settings):
    async with running_bot(settings) as chat:
        await chat.say("王女士", LIGHT)
        await chat.settle()
        bot = chat.bot
        sent_at = datetime.fromisoformat((await bot.store.one("SELECT sent_at FROM tickets"))["sent_at"])
        tomorrow = sent_at.astimezone(settings.zone).date() + timedelta(days=1)
        at = lambda h, m=0: datetime.combine(tomorrow, datetime.min.time().replace(hour=h, minute=m),  # noqa: E731
                                             settings.zone).astimezone(timezone.utc)
        before = await last_reply_id(bot.store)
        assert await daily.tick(bot, at(7, 59)) == 0
        assert await daily.tick(bot, at(8, 0)) >= 1
        sent = await queued(bot.store, before)
        to_manager = [r["text"] for r in sent if r["to_id"] == MANAGER]
        assert to_manager and "网格日报" in to_manager[0] and "新工单 1 件" in to_manager[0], to_manager
        assert all(r["group_id"] is None for r in sent)                            # privately
        assert await daily.tick(bot, at(9, 30)) == 0                               # once a day


# -- the ledger and the bot agree: category changes, call-back, one set of status words -----------

async def post(backend, path: str, **fields):
    import httpx
    async with httpx.AsyncClient(base_url=backend.base_url) as http:
        response = await http.post(path, data={"api_key": API_KEY, **fields}, headers={"Idempotency-Key": f"test-{abs(hash((path, str(fields))))}"})
    assert response.status_code == 200, response.text
    return response.json()[0]


async def filed(chat) -> tuple[str, list]:
    said = await chat.say("王女士", LIGHT)
    said += await chat.settle()
    number = NUMBER.search(" ".join(r.text for r in said)).group(0)
    return number, said


async def test_a_category_changed_by_staff_on_the_backend_reaches_the_bot_and_the_resident(settings, backend):
    async with running_bot(settings) as chat:
        number, _ = await filed(chat)
        changed = await post(backend, f"/requests/{number}/category.json", service_code="water")
        assert changed["service_code"] == "water"
        await chat.bot.poller.poll_once()
        said = await chat.settle()
        to_resident = [r for r in said if r.to_name == "王女士"]
        assert len(to_resident) == 1 and "调整为【供水排水】" in to_resident[0].text, said
        assert to_resident[0].group_name == GROUP
        row = await chat.bot.store.one("SELECT category FROM tickets")
        assert row["category"] == "water"
        decision = await chat.bot.store.one("SELECT label, action, decided_by FROM decisions")
        assert tuple(decision) == ("water", "recategorize", "ledger")   # a labelled example
        await chat.bot.poller.poll_once()
        assert await chat.settle() == []                                 # told once


async def test_a_managers_recategorize_of_a_filed_ticket_tells_the_resident(settings, backend):
    async with running_bot(settings) as chat:
        number, _ = await filed(chat)
        said = await chat.say("小李", f"改类 {number} 供水", group=None, sender_id=MANAGER)
        said += await chat.settle()
        assert any(r.to_name == "王女士" and "调整为【供水排水】" in r.text for r in said), said
        async with TrackerClient(backend.base_url, API_KEY) as client:
            assert (await client.get(number)).service_code == "water"


async def test_call_back_between_the_grid_manager_and_the_resident_without_ids(settings, backend):
    async with running_bot(settings) as chat:
        number, _ = await filed(chat)
        said = await chat.say("小李", f"回复 {number} 师傅明天上午来修，请家里留人", group=None, sender_id=MANAGER)
        said += await chat.settle()
        resident = [r for r in said if r.to_name == "王女士"]
        assert resident and resident[0].group_name == GROUP and "师傅明天上午来修" in resident[0].text, said
        assert f"回复 {number}" in resident[0].text                   # how to answer
        assert any(r.to_id == MANAGER and "已转告" in r.text for r in said)
        said = await chat.say("王女士", f"回复 {number} 好的，上午家里有人")
        said += await chat.settle()
        assert any(r.to_id == MANAGER and r.group_id is None and "上午家里有人" in r.text for r in said), said
        assert any(r.to_name == "王女士" and "已把您的话转给网格员" in r.text for r in said)
        # Someone who did not report it cannot use it to reach anyone.
        said = await chat.say("路人", f"回复 {number} 你好")
        assert len(said) == 1 and "没有找到" in said[0].text, said
        # In a group, talk that only starts like the command gets no usage hint.
        assert await chat.say("老张", "回复 楼上的，我也这么觉得") == []
        notes = history(backend, number)
        assert any("网格员回复居民：师傅明天上午来修" in h for h in notes), notes
        assert any("居民回复：好的，上午家里有人" in h for h in notes), notes


async def test_an_unhappy_rating_reaches_the_grid_manager_with_the_way_to_call_back(settings, backend):
    async with running_bot(settings) as chat:
        number, _ = await filed(chat)
        await post(backend, f"/requests/{number}/status.json", status="closed", status_notes="已更换灯泡")
        await chat.bot.poller.poll_once()
        said = await chat.settle()
        assert any("已办结" in r.text for r in said if r.to_name == "王女士"), said
        said = await chat.say("王女士", f"不满意 {number}")
        manager = [r for r in said if r.to_id == MANAGER]
        assert manager and "不满意" in manager[0].text and f"回复 {number}" in manager[0].text, said


async def test_what_staff_do_on_the_ledger_page_reaches_the_resident(settings, backend):
    """The ledger's own forms (a logged-in grid manager, CSRF and all): a category change shows in
    GET /requests/{id}.json and reaches the resident; a note ticked 给居民 is relayed to them."""
    import asyncio

    import httpx

    from tests.backend_fixtures import add_staff, log_in
    from tests.test_ledger import change_on_page
    from tests.test_ledger_category import recategorize_on_page

    account = add_staff(backend, groups=[GROUP], name="李明")
    async with running_bot(settings) as chat:
        number, _ = await filed(chat)

        def staff_work():
            with httpx.Client(base_url=backend.base_url) as http:
                assert log_in(http, account.username).status_code == 303
                assert recategorize_on_page(http, number, "water").status_code == 303
                [request] = http.get(f"/requests/{number}.json").json()
                assert request["service_code"] == "water"
                assert change_on_page(http, number, stage="in_progress", status_notes="请问是几单元的水管？",
                                      for_resident="1").status_code == 303
        await asyncio.to_thread(staff_work)
        await chat.bot.poller.poll_once()
        said = [r for r in await chat.settle() if r.to_name == "王女士"]
        texts = " ".join(r.text for r in said)
        assert "调整为【供水排水】" in texts and "请问是几单元的水管？" in texts, said
        assert all(r.group_name == GROUP for r in said)
        await chat.bot.poller.poll_once()
        assert [r for r in await chat.settle() if r.to_name == "王女士"] == []   # each told once


# -- what the digest reports: rising categories, repeats, ratings, readiness for live ------------

def at(day, hour: int = 10):
    """A moment of a local day in the district (Asia/Shanghai), as a message's time."""
    from zoneinfo import ZoneInfo
    return datetime.combine(day, datetime.min.time().replace(hour=hour), ZoneInfo("Asia/Shanghai"))


async def test_the_digest_shows_rising_categories_repeats_ratings_and_when_a_trial_group_is_ready(
        tmp_path, backend, shipped_models):
    from datetime import date

    from bot import digest
    from bot import replies as texts

    day = date(2026, 12, 2)
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], digest={"ready_min_reviewed": 2},
                            groups=[{"name": GROUP, "community": "太湖港街道彭家场社区", "grid_managers": [MANAGER],
                                     "mode": "live"},
                                    {"name": VILLAGE, "community": "太湖港街道彭家场村",
                                     "grid_managers": [VILLAGE_MANAGER], "mode": "observe"}])
    async with running_bot(settings) as chat:
        async def say(name, text, when, group=GROUP, sender_id=None):
            msg = chat.message(name, text, group=group, sender_id=sender_id)
            from dataclasses import replace
            return await chat.deliver(replace(msg, time=when))

        said = await say("老周", "1栋楼道的灯坏了一个星期了，晚上上楼黑漆漆的，麻烦物业来修一下", at(day - timedelta(days=20)))
        for n, back in ((3, 2), (5, 1), (7, 0)):
            said += await say(f"住户{n}", f"{n}栋楼道的灯坏了好几天了，晚上上楼黑漆漆的，麻烦物业来修一下",
                              at(day - timedelta(days=back)))
        said += await say("邻居", "7栋楼道的灯到现在还没修", at(day, 15))
        said += await chat.settle()
        number = next(r.ticket for r in said if r.to_name == "住户3" and r.ticket)
        await post(backend, f"/requests/{number}/status.json", status="closed", status_notes="已更换灯泡")
        await chat.bot.poller.poll_once()
        await chat.settle()
        await say("住户3", f"不满意 {number}", at(day, 18))
        await say("村民甲", "5组村道上的路灯坏了好几盏，晚上走路看不见，麻烦派人修一下", at(day, 9), group=VILLAGE)
        await say("村民乙", "村委会门口的自来水管漏水好几天了，一直往外冒水", at(day, 11), group=VILLAGE)
        await chat.settle()

        model = chat.bot.live_model.model
        d = await digest.build(settings, chat.bot.store, model, MANAGER, day, at(day + timedelta(days=1), 8))
        out = "\n".join(texts.digest(settings, d, chat.bot.intake.names, "小李"))
        assert "上升的类别" in out and "路灯照明 4 件 / 0.2" in out, out   # 3 tickets and a neighbour's repeat
        assert "重复反映" in out and "新增 1 人（共 2 人）" in out, out
        assert "居民评价 1 条，不满意 1 条" in out and f"回复 {number}" in out, out
        assert "新工单 1 件" in out and "在办 3 件" in out      # 7栋 that day; 1栋, 5栋, 7栋 open (3栋 closed)
        trial = await digest.build(settings, chat.bot.store, model, VILLAGE_MANAGER, day, at(day + timedelta(days=1), 8))
        out = "\n".join(texts.digest(settings, trial, chat.bot.intake.names, "周书记"))
        assert "本会登记的工单 2 件" in out and "正式运行标准" in out and "已达到" not in out, out
        for n in (1, 2):
            answer = await say("周书记", f"对 {n}", at(day + timedelta(days=1), 9), group=None, sender_id=VILLAGE_MANAGER)
            assert "已记录" in answer[0].text, answer
        trial = await digest.build(settings, chat.bot.store, model, VILLAGE_MANAGER, day, at(day + timedelta(days=1), 8))
        out = "\n".join(texts.digest(settings, trial, chat.bot.intake.names, "周书记"))
        assert "已复核 2 条，准确率 100%" in out and "已达到正式运行标准" in out, out
