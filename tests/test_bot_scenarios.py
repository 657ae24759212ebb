"""The bot end to end: residents, grid managers and admins talking to a real bot with a real model,
a real SQLite store and the reference backend on a loopback port."""

from __future__ import annotations

import re

import pytest

from bot.tracker import TrackerClient
from tests.bot_harness import (ADMIN, API_KEY, GROUP, MANAGER, VILLAGE, VILLAGE_MANAGER, running_bot,
                               settings_for)

LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"
NUMBER = re.compile(r"GX\d{8}-\d{4}")

pytestmark = pytest.mark.usefixtures("bot_env")


@pytest.fixture()
def settings(tmp_path, backend, shipped_models):
    return settings_for(tmp_path, backend.base_url, shipped_models[0])


async def backend_ticket(backend, number):
    async with TrackerClient(backend.base_url, API_KEY) as client:
        return await client.get(number)


async def test_resident_gets_ticket_number_after_complaint(settings, backend):
    async with running_bot(settings) as chat:
        said = await chat.say("王女士", LIGHT)
    assert len(said) == 1
    reply = said[0]
    assert reply.to_name == "王女士" and reply.group_name == GROUP
    assert "【路灯照明】" in reply.text and "当前状态：已受理" in reply.text
    number = NUMBER.search(reply.text).group(0)
    assert reply.ticket == number and f"查询 {number}" in reply.text
    ticket = await backend_ticket(backend, number)
    assert ticket.service_code == "lighting" and "楼道的灯坏了" in ticket.description
    assert ticket.address == "太湖港街道彭家场社区 3栋2单元楼道"  # the community, and the place the report names


async def test_chit_chat_and_thanks_get_no_reply_and_no_ticket(settings):
    async with running_bot(settings) as chat:
        assert await chat.say("张阿姨", "今天天气真好，晚上广场见") == []
        assert await chat.say("刘师傅", "收到") == []
        row = await chat.bot.store.one("SELECT count(*) AS n FROM tickets")
        assert row["n"] == 0
        states = await chat.bot.store.all("SELECT state FROM messages")
        assert [r["state"] for r in states] == ["ignored", "ignored"]


async def test_unmonitored_group_is_not_even_stored(settings):
    async with running_bot(settings) as chat:
        assert await chat.say("王女士", LIGHT, group="别的群") == []
        assert await chat.bot.store.one("SELECT * FROM messages") is None


async def test_the_same_event_delivered_twice_is_handled_once(settings):
    async with running_bot(settings) as chat:
        msg = chat.message("王女士", LIGHT, message_id="evt-1")
        first = await chat.deliver(msg)
        second = await chat.deliver(msg)
        assert len(first) == 1 and second == []
        row = await chat.bot.store.one("SELECT count(*) AS n FROM tickets")
        assert row["n"] == 1


async def test_grid_managers_notice_never_becomes_a_complaint(settings):
    async with running_bot(settings) as chat:
        said = await chat.say("小李", "【通知】3栋楼道灯坏了的问题已报修，明天上午电工来修，请大家注意安全",
                              sender_id=MANAGER)
        assert said == []
        assert (await chat.bot.store.one("SELECT note FROM messages"))["note"] == "staff message"


async def test_uncertain_complaint_waits_for_the_manager_who_confirms_it(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], classifier__auto_ticket=1.0)
    async with running_bot(settings) as chat:
        said = await chat.say("王女士", LIGHT)
        # Nothing in the group while the manager decides, and the manager is asked privately.
        assert [r for r in said if r.to_name == "王女士"] == []
        to_manager = [r for r in said if r.to_id == MANAGER]
        assert to_manager[0].group_id is None and "把握" not in to_manager[0].text
        local = re.search(r"待确认 #(\d+)", to_manager[0].text).group(1)
        assert f"确认 {local}" in to_manager[0].text
        pending = await chat.say("小李", "待确认", sender_id=MANAGER)
        assert f"#{local}" in pending[0].text
        said = await chat.say("小李", f"确认 {local}", sender_id=MANAGER)
        said += await chat.settle()
        to_resident = [r for r in said if r.to_name == "王女士"]
        number = NUMBER.search(to_resident[0].text).group(0)
        assert (await backend_ticket(backend, number)).service_code == "lighting"
        decision = await chat.bot.store.one("SELECT * FROM decisions")
        assert decision["label"] == "lighting" and decision["action"] == "confirm"
        assert decision["decided_by"] == MANAGER


async def test_manager_rejects_and_recategorizes(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], classifier__auto_ticket=1.0)
    async with running_bot(settings) as chat:
        await chat.say("王女士", LIGHT)
        said = await chat.say("小李", "驳回 1", sender_id=MANAGER)
        assert any("已驳回 #1" in r.text for r in said)
        assert not any(r.to_name == "王女士" for r in said)  # a rejection is not announced to the resident
        await chat.say("老张", "小区东门那边的水管爆了，水一直往外冒，路上全是水")
        said = await chat.say("小李", "改类 ２  供水", sender_id=MANAGER)
        said += await chat.settle()
        number = NUMBER.search(" ".join(r.text for r in said)).group(0)
        assert (await backend_ticket(backend, number)).service_code == "water"
        labels = [r["label"] for r in await chat.bot.store.all("SELECT label FROM decisions ORDER BY id")]
        assert labels == ["none", "water"]


async def test_a_manager_of_another_group_and_a_resident_cannot_decide(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], classifier__auto_ticket=1.0)
    async with running_bot(settings) as chat:
        await chat.say("王女士", LIGHT)
        other = await chat.say("周书记", "确认 1", group=VILLAGE, sender_id=VILLAGE_MANAGER)
        assert "没有找到工单 #1" in other[0].text
        resident = await chat.say("老刘", "确认 1")
        assert "没有执行这个指令的权限" in resident[0].text
        private = await chat.say("老刘", "重新训练", group=None)
        assert "没有执行这个指令的权限" in private[0].text
        state = await chat.bot.store.one("SELECT state FROM tickets WHERE id = 1")
        assert state["state"] == "awaiting"


async def test_resident_queries_a_ticket_and_lists_their_own(settings):
    async with running_bot(settings) as chat:
        number = NUMBER.search((await chat.say("王女士", LIGHT))[0].text).group(0)
        said = await chat.say("王女士", f"＠网格助手　查询　{number.lower()}")
        assert f"工单 {number}【路灯照明】当前状态：已受理" in said[0].text
        assert "预计办结" in said[0].text
        mine = await chat.say("王女士", "我的工单")
        assert number in mine[0].text
        missing = await chat.say("王女士", "查询 GX20990101-0001")
        assert "没有找到工单" in missing[0].text
        hint = await chat.say("王女士", "查询")
        assert "指令格式不对" in hint[0].text


async def test_a_repeat_report_joins_the_open_ticket(settings, backend):
    async with running_bot(settings) as chat:
        number = NUMBER.search((await chat.say("王女士", LIGHT))[0].text).group(0)
        said = await chat.say("李大爷", "3栋2单元楼道灯到现在还没人修，黑漆漆的上楼好危险")
        assert number in said[0].text and "并入同一工单" in said[0].text
        async with TrackerClient(backend.base_url, API_KEY) as client:
            assert len(await client.get_many([number])) == 1
        count = await chat.bot.store.one("SELECT count(*) AS n FROM tickets")
        assert count["n"] == 1


async def test_the_same_problem_in_another_building_gets_its_own_ticket(settings):
    async with running_bot(settings) as chat:
        first = NUMBER.search((await chat.say("王女士", "3栋楼道灯坏了好几天了，晚上黑漆漆的")).pop().text).group(0)
        said = await chat.say("李大爷", "7栋楼道灯也坏了好几天了，晚上黑漆漆的")
        second = NUMBER.search(said[0].text).group(0)
        assert first != second


async def test_status_changes_reach_every_reporter_and_closing_asks_for_a_rating(settings, backend):
    async with running_bot(settings) as chat:
        number = NUMBER.search((await chat.say("王女士", LIGHT))[0].text).group(0)
        await chat.say("李大爷", "3栋2单元楼道灯到现在还没人修，黑漆漆的上楼好危险")
        async with TrackerClient(backend.base_url, API_KEY) as client:
            await client.update(number, "open", status_notes="电工已到场，正在更换灯具")
            assert await chat.bot.poller.poll_once() == 1
            said = await chat.settle()
            assert {r.to_name for r in said} == {"王女士", "李大爷"}
            assert all("电工已到场" in r.text for r in said)
            assert await chat.bot.poller.poll_once() == 0
            await client.update(number, "closed", status_notes="灯已换新")
            await chat.bot.poller.poll_once()
            said = await chat.settle()
            assert sum("满意" in r.text for r in said) == 2
            thanks = await chat.say("王女士", "满意")
            assert "已记录为满意" in thanks[0].text
            await chat.settle()
            ticket = await client.get(number)
            # The rating is kept apart: the staff's closing note and the status stay.
            assert ticket.status_notes == "灯已换新" and ticket.status == "closed"
        assert await chat.bot.poller.poll_once() == 0


async def test_long_messages_are_truncated_for_the_ticket_and_said_so(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], limits={"description_chars": 60})
    async with running_bot(settings) as chat:
        said = await chat.say("王女士", LIGHT + "。" + "真的太不方便了" * 30)
        assert any("只保留了前 60 字" in r.text for r in said)
        number = NUMBER.search(" ".join(r.text for r in said)).group(0)
        assert len((await backend_ticket(backend, number)).description) == 61
        stored = await chat.bot.store.one("SELECT text FROM messages")
        assert stored["text"].endswith("真的太不方便了")


async def test_one_resident_cannot_flood_the_backend(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], limits={"reports_per_hour": 2})
    async with running_bot(settings) as chat:
        await chat.say("刷屏哥", LIGHT)
        await chat.say("刷屏哥", "小区北门垃圾桶三天没人清了，臭得要命，苍蝇到处飞")
        third = await chat.say("刷屏哥", "5栋有人在楼道里给电瓶车充电，电线从窗户拉下来，太危险了")
        fourth = await chat.say("刷屏哥", "晚上12点了7栋楼上还在装修电钻响个不停，吵得睡不着")
        # Past the limit nothing is dropped: the rest wait for the grid manager, who is asked privately;
        # the resident hears it once.
        told = [r for r in third if r.to_name == "刷屏哥"]
        assert len(told) == 1 and "超过 2 条" in told[0].text
        assert [r for r in fourth if r.to_name == "刷屏哥"] == []
        assert any(r.to_id == MANAGER and r.group_id is None and "一小时内反映较多" in r.text for r in fourth)
        states = [r["state"] for r in await chat.bot.store.all("SELECT state FROM tickets ORDER BY id")]
        assert states == ["open", "open", "awaiting", "awaiting"]


async def test_admin_sees_the_model_and_cannot_roll_back_past_the_first(settings):
    async with running_bot(settings) as chat:
        said = await chat.say("管理员", "模型状态", group=None, sender_id=ADMIN)
        assert "当前模型" in said[0].text and "投诉识别F1" in said[0].text
        said = await chat.say("管理员", "回滚模型", group=None, sender_id=ADMIN)
        assert "回滚失败" in said[0].text


async def test_private_chat_that_is_not_a_command_gets_help(settings):
    async with running_bot(settings) as chat:
        said = await chat.say("王女士", "你好", group=None)
        assert "可用指令" in said[0].text and said[0].group_name is None


async def test_a_photo_after_a_complaint_goes_with_its_ticket(tmp_path, backend, shipped_models):
    from bot.messages import IncomingMessage

    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], classifier__auto_ticket=1.0)
    async with running_bot(settings) as chat:
        await chat.say("王女士", LIGHT, sender_id="wxid_w")
        photo = IncomingMessage("img-1", f"{GROUP}@chatroom", GROUP, "wxid_w", "王女士", "[图片]", kind="image",
                                media_url="https://img.example/light.jpg")
        assert await chat.deliver(photo) == []
        said = await chat.say("小李", "确认 1", sender_id=MANAGER)
        said += await chat.settle()
        number = NUMBER.search(" ".join(r.text for r in said)).group(0)
    assert (await backend_ticket(backend, number)).media_url == "https://img.example/light.jpg"
