"""Who may do what, and what leaves the bot.

Authorization: a resident runs no grid-manager or admin command, in a group or privately; a grid
manager runs no admin command and cannot decide, list or rate another group's tickets.
Privacy: a resident's WeChat id never reaches the backend (an opaque reporter id does); phone and
ID-card numbers are masked in whatever the bot posts to a group.
"""

from __future__ import annotations

import unicodedata

import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import replies
from bot.commands import admin, grid_manager, router
from bot.intake import Intake  # noqa: F401  (registers every command on the router)
from bot.tracker import TrackerClient
from classifier import registry
from tests.bot_harness import ADMIN, API_KEY, GROUP, MANAGER, VILLAGE, VILLAGE_MANAGER, running_bot, settings_for
from tests.fault_tools import FaultyProxy

LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"
WATER = "小区东门的水管爆了，水一直往外冒，路上全是水"
NUMBER = re.compile(r"GX\d{8}-\d{4}")
REFUSED = "没有执行这个指令的权限"
ARGS = {"confirm": " 1", "reject": " 1", "recategorize": " 1 供水", "pending": "", "retrain": "", "status": "",
        "rollback": "", "set_aside": "", "requeue": "", "unpin_room": " 景湖名都业主群",
        "review_right": " 1", "review_wrong": " 1", "review_changed": " 1 供水"}
MANAGER_COMMANDS = [w + ARGS[c.handler.__name__] for c in router.commands if c.role is grid_manager and not c.strict
                    for w in c.words]
# One-character review words (对 1, 错 1, 改 1 供水) from anyone else are talk: no refusal, no effect.
REVIEWS = [w + ARGS[c.handler.__name__] for c in router.commands if c.role is grid_manager and c.strict
           for w in c.words]
ADMIN_COMMANDS = [w + ARGS[c.handler.__name__] for c in router.commands if c.role is admin for w in c.words]
DECISIONS = [w + ARGS[c.handler.__name__] for c in router.commands if c.role is grid_manager and ARGS[c.handler.__name__]
             and not c.strict for w in c.words]

pytestmark = pytest.mark.usefixtures("bot_env")


@pytest.fixture()
def awaiting_settings(tmp_path, backend, shipped_models):
    """Every complaint waits for its grid manager (auto_ticket 1.0)."""
    return settings_for(tmp_path, backend.base_url, shipped_models[0], classifier__auto_ticket=1.0)


async def snapshot(chat) -> tuple:
    """Everything a command could change."""
    store = chat.bot.store
    return (tuple(tuple(r) for r in await store.all("SELECT id, state, category FROM tickets ORDER BY id")),
            (await store.one("SELECT count(*) FROM decisions"))[0], (await store.one("SELECT count(*) FROM outbox"))[0],
            registry.current_version(chat.bot.live_model.model_dir), chat.bot.retrainer.busy)


def test_every_command_that_needs_a_role_is_covered():
    assert {"确认 1", "驳回 1", "不予登记 1", "改类 1 供水", "改为 1 供水", "待确认", "待处理"} == set(MANAGER_COMMANDS)
    assert {"对 1", "错 1", "改 1 供水"} == set(REVIEWS)
    assert {"重新训练", "训练模型", "模型状态", "模型版本", "回滚模型", "故障", "发送失败", "重新提交",
            "换群 景湖名都业主群"} == set(ADMIN_COMMANDS)


async def test_a_resident_runs_no_manager_or_admin_command_in_a_group_or_privately(awaiting_settings):
    async with running_bot(awaiting_settings) as chat:
        await chat.say("王女士", LIGHT)
        before = await snapshot(chat)
        for text in MANAGER_COMMANDS + ADMIN_COMMANDS:
            for group in (GROUP, VILLAGE, None):
                said = await chat.say("老刘", text, group=group)
                assert len(said) == 1 and REFUSED in said[0].text, (text, group, said)
                assert said[0].to_id == "wxid_老刘" and said[0].group_name == group
        for text in REVIEWS:
            for group in (GROUP, None):
                said = await chat.say("老刘", text, group=group)
                assert not any("已记录" in r.text for r in said), (text, said)
        assert await snapshot(chat) == before


async def test_a_grid_manager_runs_no_admin_command(awaiting_settings):
    async with running_bot(awaiting_settings) as chat:
        before = await snapshot(chat)
        for text in ADMIN_COMMANDS:
            for group in (GROUP, None):
                said = await chat.say("小李", text, group=group, sender_id=MANAGER)
                assert len(said) == 1 and REFUSED in said[0].text, (text, group)
        assert await snapshot(chat) == before


async def test_a_manager_of_another_group_can_neither_decide_nor_see_a_ticket(awaiting_settings):
    async with running_bot(awaiting_settings) as chat:
        await chat.say("王女士", LIGHT)  # ticket #1 in GROUP, waiting for 小李
        before = await snapshot(chat)
        for text in DECISIONS:
            for group in (VILLAGE, GROUP, None):
                said = await chat.say("周书记", text, group=group, sender_id=VILLAGE_MANAGER)
                assert len(said) == 1 and "没有找到工单 #1" in said[0].text, (text, group, said)
        for group in (VILLAGE, None):
            listing = await chat.say("周书记", "待确认", group=group, sender_id=VILLAGE_MANAGER)
            assert "目前没有待确认的消息" in listing[0].text and "楼道" not in listing[0].text
        assert await snapshot(chat) == before
        # The group's own manager and an admin can.
        assert "#1" in (await chat.say("小李", "待确认", group=None, sender_id=MANAGER))[0].text
        said = await chat.say("管理员", "确认 1", group=None, sender_id=ADMIN)
        assert "已确认 #1" in said[0].text


async def test_a_resident_cannot_rate_someone_elses_ticket(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        number = NUMBER.search((await chat.say("王女士", LIGHT))[0].text).group(0)
        async with TrackerClient(backend.base_url, API_KEY) as client:
            await client.update(number, "closed", status_notes="灯已换新")
        await chat.bot.poller.poll_once()
        await chat.settle()
        for text in (f"不满意 {number}", "不满意", f"满意 {number}"):
            said = await chat.say("老刘", text)
            assert "没有找到工单" in said[0].text, text
        assert (await chat.bot.store.one("SELECT rating FROM tickets"))["rating"] is None
        assert (await chat.bot.store.one("SELECT count(*) FROM outbox WHERE kind = 'update'"))[0] == 0


# -- privacy --------------------------------------------------------------------------------------

RESIDENTS = {"wxid_k9secret01": "王女士", "wxid_k9secret02": "老张", "zhangsan_1988": "张三"}


async def test_the_backend_never_receives_a_residents_wechat_id(tmp_path, backend, shipped_models):
    async with FaultyProxy(backend.port) as proxy:  # forwards everything, keeps every byte it saw
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0])
        async with running_bot(settings) as chat:
            for (wxid, name), text in zip(RESIDENTS.items(), (LIGHT, WATER, "晚上12点了5栋楼上还在装修电钻响个不停，吵得睡不着")):
                await chat.say(name, text, sender_id=wxid)
            await chat.say("王女士", "小区北门垃圾桶三天没人清了，臭得要命，苍蝇到处飞", sender_id="wxid_k9secret01")
            await chat.settle()
            salt = await chat.bot.store.meta("reporter_salt")
    assert proxy.count() == 4
    secrets = [*RESIDENTS, MANAGER, ADMIN]
    for request in proxy.raw:
        for wxid in secrets:
            assert wxid.encode() not in request, (wxid, request[:300])
    # What the backend keeps and shows: opaque reporter ids, one per resident, stable across reports.
    conn = sqlite3.connect(backend.db_path)
    try:
        reporters = [r[0] for r in conn.execute("SELECT reporter FROM requests ORDER BY id")]
        for table, in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f"SELECT * FROM {table}"):
                text = " ".join(str(v) for v in row)
                assert not any(wxid in text for wxid in secrets), (table, row)
    finally:
        conn.close()
    assert all(re.fullmatch(r"r-[0-9a-f]{16}", r) for r in reporters)
    assert len(reporters) == 4 and len(set(reporters)) == 3 and reporters[0] == reporters[3]
    assert salt and salt not in " ".join(reporters)
    async with TrackerClient(backend.base_url, API_KEY) as client:
        shown = await client._http.get("/requests.json")
    assert not any(wxid in shown.text for wxid in secrets)


PERSONAL = [  # (as typed, what must not appear in the group)
    ("13812345678", "13812345678"),
    ("138 1234 5678", "1234"),
    ("138-1234-5678", "1234"),
    ("+86 13812345678", "1381234"),
    ("8613812345678", "1381234"),
    ("１３８１２３４５６７８", "１２３４"),
    ("420106199001011234", "19900101"),
    ("42010619900101123X", "19900101"),
    ("４２０１０６１９９００１０１１２３４", "１９９００１０１"),
    ("027-87654321", "8765"),
]


@pytest.mark.parametrize("typed, hidden", PERSONAL, ids=[p[0] for p in PERSONAL])
def test_personal_numbers_are_masked_in_what_the_group_sees(typed, hidden):
    text = f"我家下水道堵了污水漫到路上，联系电话{typed}，身份证号也可以给"
    for said in (replies.confirm_request(7, "供水排水", GROUP, "王女士", text),
                 replies.awaiting_list([(7, "供水排水", GROUP, text)])):
        assert hidden not in said, said
        assert "下水道堵了" in said  # the rest of the words still there for the manager


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", " ", "-"]), st.booleans(),
       st.sampled_from(["", "+86", "86", "+86 "]), st.text(st.sampled_from("楼道灯坏了，。联系电话我家"), max_size=15),
       st.text(st.sampled_from("楼道灯坏了，。谢谢"), max_size=15))
def test_any_mobile_number_however_typed_is_masked(number, sep, full_width, prefix, before, after):
    typed = f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    if full_width:
        typed = typed.translate(str.maketrans("0123456789+", "０１２３４５６７８９＋"))
    said = replies.confirm_request(3, "其他", GROUP, "王女士", f"{before}{prefix}{typed}{after}")
    # Separators and widths stay as typed (the text keeps its length); the middle four are hidden.
    assert typed not in said and f"{number[:3]}{sep}****{sep}{number[7:]}" in unicodedata.normalize("NFKC", said)


async def test_the_confirmation_request_masks_the_residents_numbers_and_stays_private(awaiting_settings):
    async with running_bot(awaiting_settings) as chat:
        said = await chat.say("王女士", "我家5栋楼道灯坏了一个多星期了，电话13812345678，身份证420106199001011234，"
                                      "麻烦尽快派人来修")
        assert not [r for r in said if r.group_id is not None]  # nothing in the group while the manager decides
        posted = [r for r in said if r.to_id == MANAGER]
        assert posted and all(r.group_id is None for r in posted)
        listing = await chat.say("小李", "待确认", sender_id=MANAGER)
        for reply in posted + listing:
            assert "13812345678" not in reply.text and "19900101" not in reply.text
            assert "138****5678" in reply.text or reply.to_id != MANAGER
        # The store keeps the words as said; only what is posted is masked.
        stored = await chat.bot.store.one("SELECT text FROM messages WHERE sender_id = 'wxid_王女士'")
        assert "13812345678" in stored["text"]
