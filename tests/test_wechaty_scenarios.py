"""The real bot on WeChat: the wechaty SDK against the official puppet-service gateway (over a mock
WeChat), the reference tracking backend and real SQLite files. What is checked is what people in
the group would see: the bot's messages as the gateway received them, and the tickets in the backend.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.wechat_fixtures import (GROUP_ROOM, MANAGER, NUMBER, OTHER_ROOM, TOKEN, Gateway, backend_ticket,
                                   backend_tickets, wait_until,
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


def test_manager_confirms_privately_and_the_resident_hears_back_in_the_room(gateway, start_bot, backend):
    bot = start_bot(gateway.endpoint, auto_ticket=1.0)
    bot.wait_log(CONNECTED)
    gateway.say("wxid_wang", LIGHT)
    # Staff triage is private: the manager is asked in a private chat, the room hears nothing yet.
    question = gateway.wait_sent(lambda e: e["to"] == MANAGER, what="the question to the grid manager")
    assert question["mentions"] == [] and "把握" not in question["text"]
    local = re.search(r"待确认 #(\d+)", question["text"]).group(1)
    mark = gateway.mark()
    gateway.say(MANAGER, f"确认 {local}", room=None)
    ack = gateway.wait_sent(lambda e: e["to"] == MANAGER, after=mark, what="the manager's acknowledgement")
    assert f"已确认 #{local}" in ack["text"] and ack["mentions"] == []
    told = gateway.wait_sent(lambda e: mentions("wxid_wang")(e) and NUMBER.search(e["text"]), after=mark,
                             what="the resident's ticket number")
    assert told["to"] == GROUP_ROOM
    assert backend_ticket(backend, NUMBER.search(told["text"]).group(0))["service_code"] == "lighting"


def test_an_image_is_stored_with_its_kind_and_gets_no_reply(gateway, start_bot):
    bot = start_bot(gateway.endpoint)
    bot.wait_log(CONNECTED)
    said = gateway.say("wxid_wang", image="https://example.com/lamp.jpg")
    assert settle(gateway) == []
    assert [tuple(r) for r in bot.rows("SELECT kind, text, state FROM messages WHERE key = ?", (said["id"],))] == [
        ("image", "", "ignored")]


def test_a_wrong_token_stops_the_bot_with_a_clear_error(gateway, start_bot):
    bot = start_bot(gateway.endpoint, token="insecure_not-the-right-one")
    assert bot.wait_exit() == 2
    log = bot.log()
    assert (f"config error: wechaty.token_env: the puppet service at {gateway.endpoint} rejected the token in "
            f"$GRIDBOT_TEST_PUPPET_TOKEN") in log
    assert "insecure_not-the-right-one" not in log and TOKEN not in log


def test_a_missing_token_is_a_start_up_error_naming_the_variable(gateway, start_bot):
    bot = start_bot(gateway.endpoint, token="")
    assert bot.wait_exit() == 2
    assert "wechaty.token_env: environment variable GRIDBOT_TEST_PUPPET_TOKEN is not set" in bot.log()


def test_a_gateway_that_is_not_up_yet_is_waited_for(tmp_path, start_bot):
    gateway = Gateway(tmp_path)
    bot = start_bot(gateway.endpoint)
    try:
        bot.wait_log(rf"waiting for the puppet service at {gateway.endpoint} \(Connection refused\)")
        ready = gateway.start()
        stream = gateway.wait_connected()
        assert stream["t"] - ready["t"] < 3000, "the bot found the gateway more than 3 s after it came up"
        bot.wait_log(CONNECTED + rf" at {gateway.endpoint} after \d+\.\d s without it")
        gateway.say("wxid_wang", WATER)
        assert "【供水排水】" in gateway.wait_sent(mentions("wxid_wang"))["text"]
        assert bot.log().count("waiting for the puppet service") == 1, "the waiting line is logged once"
    finally:
        gateway.stop()


NOISE = "楼下烧烤店的音响每天晚上放到凌晨一两点，吵得孩子睡不着觉，说了好几次都不听"


@pytest.mark.parametrize("outage", [5, pytest.param(90, marks=pytest.mark.slow)], ids=["5s", "90s"])
def test_the_gateway_dies_and_comes_back_and_nothing_is_lost_or_answered_twice(gateway, start_bot, backend, outage):
    bot = start_bot(gateway.endpoint)
    bot.wait_log(CONNECTED)
    gateway.say("wxid_wang", LIGHT)
    gateway.wait_sent(lambda e: mentions("wxid_wang")(e) and NUMBER.search(e["text"]), what="the first answer")

    # A complaint reaches the bot while the tracking backend is down, so its answer has to wait;
    # then WeChat goes away too, and the backend comes back while WeChat is still away.
    backend.stop()
    waiting = gateway.say("wxid_zhang", WATER)
    wait_until(lambda: bot.rows("SELECT 1 FROM tickets WHERE message_key = ?", (waiting["id"],)), 10,
               "the complaint to wait in the outbox")
    gateway.kill()
    killed = time.monotonic()
    backend.start()
    bot.wait_log("lost the puppet service")
    time.sleep(max(0.0, killed + outage - time.monotonic()))
    made_while_away = bot.rows("SELECT service_request_id FROM tickets WHERE message_key = ? AND "
                               "service_request_id IS NOT NULL", (waiting["id"],))

    mark = gateway.mark()
    ready = gateway.start()
    stream = gateway.wait_connected(after=mark)
    late = gateway.wait_sent(lambda e: mentions("wxid_zhang")(e) and NUMBER.search(e["text"]), after=mark,
                             timeout=30, what="the answer that waited")
    fresh = gateway.say("wxid_liu", NOISE)
    answer = gateway.wait_sent(lambda e: mentions("wxid_liu")(e) and NUMBER.search(e["text"]), after=mark,
                               what="an answer to a new complaint")
    assert stream["t"] - ready["t"] < 3000, "the bot took more than 3 s to find the gateway again"
    assert answer["t"] - ready["t"] < 5000, "the bot answered more than 5 s after the gateway came back"
    assert answer["t"] - fresh["t"] < 1000
    if outage >= 30:
        assert made_while_away, "the outbox should make the ticket while WeChat is away"

    sent = settle(gateway)
    numbers = [n for e in sent if e["mentions"] for n in set(NUMBER.findall(e["text"]))]
    tickets = backend_tickets(backend)
    assert sorted(numbers) == sorted(t["service_request_id"] for t in tickets), "each ticket told once"
    assert len(tickets) == 3 and NUMBER.search(late["text"]).group(0) in numbers
    assert bot.proc.poll() is None
