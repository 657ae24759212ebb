"""Each intake step on its own: the pure rules (places, emergencies, ticket numbers, follow-up
words) directly, and the steps that read the store through a real bot (real store file, real model,
real backend). The whole path is in tests/test_conversation.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bench import conversation_rules
from bot import emergency, places, refs
from bot.messages import IncomingMessage
from bot.steps import PATH
from bot.steps.followup import ADDITION, OWN, STATUS
from tests.bot_harness import GROUP, MANAGER, running_bot, settings_for

pytestmark = pytest.mark.usefixtures("bot_env")
T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)


def test_the_path_is_declared_in_the_order_design_md_gives():
    assert [s.name for s in PATH] == ["command", "staff", "media", "room", "emergency", "place answer",
                                      "follow-up", "fragments", "classify", "merge", "ask", "mode", "ticket"]


# -- places ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, described", [
    ("3栋楼道的灯到现在还没修", "3栋楼道"),
    ("三栋那边的灯怎么还黑着", "3栋"),
    ("十二号楼三单元电梯坏了", "12栋3单元电梯"),
    ("12-3-502家里漏水", "12栋3单元502室"),
    ("人民路口的红绿灯坏了", "人民路"),
    ("菜场门口垃圾成堆", "菜市场"),
    ("北门的道闸坏了", "北门"),
    ("5组的路坑坑洼洼", "5组"),
    ("老桥那边的路灯不亮", "幸福桥"),        # the group's gazetteer: 幸福桥|老桥
    ("路灯坏了好几天了", ""),
    ("晚上看不见路", ""),
])
def test_places_are_read_as_people_write_them(text, described):
    assert places.extract(text, ("幸福桥|老桥",)).describe() == described


def test_different_buildings_units_rooms_and_gates_never_merge():
    assert not places.same_problem("7栋楼道的灯不亮", "3栋楼道的灯坏了")
    assert not places.same_problem("3栋4单元楼道灯坏了", "3栋2单元楼道灯坏了")
    assert not places.same_problem("南门的路灯不亮", "北门的路灯不亮")
    assert not places.same_problem("3栋电梯里的灯不亮", "3栋楼道里的灯不亮")
    assert places.same_problem("三栋那边的灯怎么还黑着", "3栋楼道的灯到现在还没修")
    assert places.same_problem("下水道又冒水了，臭死了", "5栋门口的下水道堵了，污水漫出来")


def test_merge_rule_figures_on_labelled_repeat_pairs():
    """240 pairs written by a helper who never saw the rule; odd lines are held out."""
    rows = conversation_rules.halves(conversation_rules.read("repeat_pairs.jsonl"))
    precision, recall, n = conversation_rules.merge_figures(rows["held out"])
    assert n == 120 and precision >= 0.65 and recall >= 0.85, (precision, recall)


# -- emergencies -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind", [
    ("求助！！！楼下着火了 冒黑烟", "fire"),
    ("楼下着火了，浓烟很大，快来人", "fire"),
    ("5栋一楼燃气味好大，是不是漏气了", "gas"),
    ("有人晕倒了 快叫救护车", "injury"),
    ("电梯困人了 里面有个老人", "trapped"),
    ("地下车库进水了 水越来越深", "flood"),
    ("上周3栋着火的事有人管吗", None),
    ("楼道里充电很容易着火", None),
    ("明天上午消防演练，大家不要惊慌", None),
    ("这游戏最近火了", None),
    ("3栋楼道的灯坏了，老人摔了一跤", None),
    ("小区东门的水管爆了，水一直往外冒", None),  # urgent for the water company, not a 119 call
])
def test_emergencies_are_what_happens_now(text, kind):
    found = emergency.detect(text)
    assert (found.kind if found else None) == kind


def test_emergency_rule_figures_on_a_labelled_set():
    rows = conversation_rules.halves(conversation_rules.read("emergencies.jsonl"))
    precision, recall, n, right_kind = conversation_rules.emergency_figures(rows["held out"])
    assert n == 130 and precision >= 0.75 and recall >= 0.6 and right_kind >= 0.9, (precision, recall, right_kind)


def test_the_number_to_call_comes_from_config(tmp_path):
    settings = settings_for(tmp_path, "http://127.0.0.1:9", tmp_path, emergency={"gas_company": "96777"})
    assert "96777" in emergency.numbers("gas", settings) and emergency.numbers("fire", settings) == "119"
    assert emergency.numbers("injury", settings) == "120" and emergency.numbers("crime", settings) == "110"


# -- ticket numbers and follow-up words ------------------------------------------------------------

@pytest.mark.parametrize("text, wanted", [
    ("工单GX20261202-0001怎么样了", [("full", "GX20261202-0001")]),
    ("查一下 gx20261202-0001", [("full", "GX20261202-0001")]),
    ("20261202-0001", [("full", "20261202-0001")]),
    ("查询 #12", [("local", "#12")]),
    ("0014", [("bare", "0014")]),
    ("0014号工单呢", [("bare", "0014")]),
    ("补充一下，是3栋2单元4楼到6楼那几盏", []),
    ("这个月电费多了200块", []),
])
def test_ticket_numbers_in_any_form(text, wanted):
    assert [(r.kind, r.text) for r in refs.parse(text)] == wanted


@pytest.mark.parametrize("text", ["我上次说的那个灯修了没有？", "请问我反映的问题处理得怎么样了", "怎么还没人来修",
                                  "有进展吗", "什么时候能修好"])
def test_status_questions_in_plain_words(text):
    assert STATUS.search(text) or OWN.search(text)


@pytest.mark.parametrize("text", ["补充一下，是3栋2单元4楼到6楼那几盏", "对了 晚上还会闪", "另外门口那盏也不亮"])
def test_additions(text):
    assert ADDITION.search(text)


# -- steps that read the store ---------------------------------------------------------------------

def message(key: str, text: str, seconds: float, sender: str = "wxid_w", group: str | None = GROUP,
            **kwargs) -> IncomingMessage:
    return IncomingMessage(key, group and f"{group}@chatroom", group, sender, "王女士", text,
                           time=T0 + timedelta(seconds=seconds), in_group=group is not None, **kwargs)


async def test_fragments_join_only_inside_the_split_window(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        await chat.deliver(message("f1", "3栋楼道", 0))
        await chat.deliver(message("f2", "灯坏了", 20))
        await chat.settle()
        ticket = await chat.bot.store.one("SELECT * FROM tickets")
        assert ticket["description"] == "3栋楼道 灯坏了" and ticket["place"].startswith("3栋")
        first = await chat.bot.store.message("f1")
        assert first["ticket_id"] == ticket["id"]  # the fragment is part of the ticket, judged once
        await chat.deliver(message("f3", "7栋楼道", 1000))
        await chat.deliver(message("f4", "灯也坏了好几天了", 1000 + 600))  # ten minutes later: on its own
        rows = await chat.bot.store.all("SELECT description FROM tickets ORDER BY id")
        assert all("7栋楼道 灯也坏了" not in r["description"] for r in rows)


async def test_a_photo_after_the_report_goes_with_its_ticket(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], classifier__auto_ticket=1.0)
    async with running_bot(settings) as chat:
        await chat.deliver(message("p1", "3栋2单元楼道的灯坏了一个多星期了，晚上黑漆漆的", 0))
        await chat.deliver(message("p2", "[图片]", 60, kind="image", media_url="https://img.example/a.jpg"))
        assert (await chat.bot.store.one("SELECT media_url FROM tickets"))["media_url"] == "https://img.example/a.jpg"


async def test_staff_messages_are_notices_and_never_tickets(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        said = await chat.deliver(message("s1", "通知：3栋楼道的灯坏了，明天上午维修", 0, sender=MANAGER))
        assert said == [] and (await chat.bot.store.one("SELECT count(*) AS n FROM tickets"))["n"] == 0


async def test_a_private_complaint_of_someone_heard_in_a_group_belongs_to_that_group(tmp_path, backend,
                                                                                    shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        await chat.deliver(message("r1", "大家早上好", 0))
        said = await chat.deliver(message("r2", "我在工地干了三个月，老板一直拖欠工资不给", 60, group=None))
        said += await chat.settle()
        ticket = await chat.bot.store.one("SELECT * FROM tickets")
        assert ticket["group_name"] == GROUP and ticket["group_id"] is None
        assert said and all(r.group_id is None for r in said)


async def test_a_very_long_message_is_judged_on_its_beginning(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], limits={"message_chars": 200})
    async with running_bot(settings) as chat:
        await chat.deliver(message("l1", "3栋2单元楼道的灯坏了一个多星期了，晚上黑漆漆的。" + "啊" * 200_000, 0))
        stored = await chat.bot.store.message("l1")
        assert len(stored["text"]) > 200_000 and stored["label"] == "lighting"  # kept whole, judged in part


async def test_i_do_not_know_where_files_the_ticket_with_the_community_now(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        asked = await chat.deliver(message("k1", "路灯坏了好几天了，晚上黑漆漆的", 0))
        assert any("请问是哪栋楼" in r.text for r in asked)
        said = await chat.deliver(message("k2", "不知道", 30))
        said += await chat.settle()
        ticket = await chat.bot.store.one("SELECT * FROM tickets")
    assert ticket["state"] == "open" and any(ticket["service_request_id"] in r.text for r in said)
