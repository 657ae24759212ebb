"""The real bot on WeChat: the wechaty SDK against the official puppet-service gateway (over a mock
WeChat), the reference tracking backend and real SQLite files. What is checked is what people in
the group would see: the bot's messages as the gateway received them, and the tickets in the backend.
"""

from __future__ import annotations

import re

import pytest

from tests.wechat_fixtures import (GROUP_ROOM, MANAGER, NUMBER, OTHER_ROOM, TOKEN, Gateway, backend_ticket,
                                   gateway, mentions, start_bot, wechat_model_dir)  # noqa: F401

LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"
WATER = "小区东门那边的水管爆了，水一直往外冒，路上全是水，走都走不了"
CONNECTED = r"connected to the puppet service"


def test_resident_complaint_in_the_room_gets_an_at_reply_with_the_ticket_number(gateway, start_bot, backend):
    bot = start_bot(gateway.endpoint)
    bot.wait_log(CONNECTED)
    said = gateway.say("wxid_wang", LIGHT)
    reply = gateway.wait_sent(mentions("wxid_wang"), after=0, what="the @-reply to 王女士")
    assert reply["to"] == GROUP_ROOM and reply["mentions"] == ["wxid_wang"]
    assert "【路灯照明】" in reply["text"]
    number = NUMBER.search(reply["text"]).group(0)
    ticket = backend_ticket(backend, number)
    assert ticket["service_code"] == "lighting" and "楼道的灯坏了" in ticket["description"]
    stored = bot.rows("SELECT group_id, group_name, sender_name, kind FROM messages WHERE key = ?", (said["id"],))
    assert [tuple(r) for r in stored] == [(GROUP_ROOM, "景湖名都业主群", "王女士", "text")]


def settle(gateway: Gateway, after: int = 0) -> list[dict]:
    """What the bot said since `after`, once it has read everything said so far.

    The bot reads messages in the order the gateway delivers them, so when it answers a private
    message sent now, it has dealt with every earlier one. The answer itself is left out.
    """
    barrier = gateway.say("wxid_liu", "你好", room=None)
    answer = gateway.wait_sent(lambda e: e["to"] == "wxid_liu", after=gateway.events.index(barrier),
                               what="the bot to answer a private message")
    return [e for e in gateway.sent(after) if e is not answer]


def test_unmonitored_room_and_the_bots_own_echo_get_nothing(gateway, start_bot):
    bot = start_bot(gateway.endpoint)
    bot.wait_log(CONNECTED)
    elsewhere = gateway.say("wxid_zhang", WATER, room=OTHER_ROOM)
    gateway.say("wxid_wang", LIGHT)
    gateway.wait_sent(mentions("wxid_wang"), what="the @-reply to 王女士")
    # The mock hands every message the bot sends back to it, as a message from the bot itself.
    sent = settle(gateway)
    assert [e["to"] for e in sent] == [GROUP_ROOM]
    assert not bot.rows("SELECT 1 FROM messages WHERE key = ?", (elsewhere["id"],))
    assert not bot.rows("SELECT 1 FROM messages WHERE sender_id = 'wxid_bot'")
    assert [r["sender_id"] for r in bot.rows("SELECT sender_id FROM messages ORDER BY received_at")] == [
        "wxid_wang", "wxid_liu"]
