"""The WeChat channel on its own, in this process, against the official gateway: how it watches and
rebuilds its connection. Intake is a list here; the real bot is in test_wechaty_scenarios.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
import weakref
from dataclasses import replace

import pytest

from bot import config
from bot.channels.wechaty import Timing, WechatyChannel
from bot.messages import Reply
from tests.wechat_fixtures import GROUP, GROUP_ROOM, TOKEN, TOKEN_ENV, gateway  # noqa: F401

FAST = Timing(ding_interval=1.0, ding_timeout=2.0, connect_timeout=5.0, send_wait=2.0)


def settings_for(tmp_path, endpoint: str) -> config.Settings:
    return config.parse({
        "channel": "wechaty", "groups": [{"name": GROUP, "grid_managers": ["wxid_li"], "mode": "live"}],
        "tracker": {"base_url": "http://127.0.0.1:9"}, "store": {"path": "bot.db"}, "classifier": {},
        "wechaty": {"endpoint": endpoint, "token_env": TOKEN_ENV}}, "test", tmp_path)


class Running:
    """The channel's run() as a task, with what it handed to intake."""

    def __init__(self, channel: WechatyChannel):
        self.channel, self.received = channel, []
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Running:
        async def on_message(msg):
            self.received.append(msg)
        self.task = asyncio.create_task(self.channel.run(on_message))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.channel.stop()
        await asyncio.wait_for(self.task, 20)

    async def until(self, condition, timeout: float = 10.0, what: str = "the channel"):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.task.done():
                self.task.result()
                raise AssertionError(f"the channel stopped while waiting for {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            await asyncio.sleep(0.02)

    async def heard(self, gateway, text: str, timeout: float = 10.0):
        said = await asyncio.to_thread(gateway.say, "wxid_wang", text)
        await self.until(lambda: any(m.message_id == said["id"] for m in self.received), timeout, f"{text!r}")
        return next(m for m in self.received if m.message_id == said["id"])


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


async def test_a_frozen_gateway_is_noticed_by_ding_and_the_link_comes_back_when_it_thaws(tmp_path, gateway, caplog):
    caplog.set_level(logging.INFO, logger="bot.channels.wechaty")
    channel = WechatyChannel(settings_for(tmp_path, gateway.endpoint), FAST)
    async with Running(channel) as run:
        await run.until(lambda: channel.connects == 1, what="the first connection")
        first = await run.heard(gateway, "第一条")
        assert (first.group_id, first.group_name, first.sender_name) == (GROUP_ROOM, GROUP, "王女士")
        gateway.pause()  # the TCP connection stays open, nothing answers: a half-open link
        try:
            await run.until(lambda: "no dong within 2 s of a ding" in caplog.text, 10, "the ding to go unanswered")
            with pytest.raises(Exception) as refused:
                await channel.send(Reply("在吗", GROUP_ROOM, GROUP, "wxid_wang", "王女士"))
            assert "not connected" in str(refused.value)
        finally:
            gateway.resume()
        await run.until(lambda: channel.connects >= 2, 30, "a new connection after the thaw")
        await run.heard(gateway, "第二条")


async def test_each_reconnect_builds_a_fresh_sdk_object_and_leaves_nothing_behind(tmp_path, gateway):
    """Why a fresh Wechaty object in this process, not a child process: this many rebuilds leak nothing."""
    channel = WechatyChannel(settings_for(tmp_path, gateway.endpoint), FAST)
    async with Running(channel) as run:
        await run.until(lambda: channel.connects == 1, what="the first connection")
        await run.heard(gateway, "热身")
        tasks, fds = len(asyncio.all_tasks()), len(os.listdir("/proc/self/fd"))
        old_sdks = []
        for n in range(2, 22):
            old_sdks.append(weakref.ref(channel._conn.sdk))
            channel._conn.end("dropped by the test")
            await run.until(lambda: channel.connects == n, 10, f"connection {n}")
            assert old_sdks[-1]() is not channel._conn.sdk
        msg = await run.heard(gateway, "重连二十次之后")
        assert msg.sender_name == "王女士"
        await asyncio.sleep(0.3)
        gc.collect()
        assert sum(ref() is not None for ref in old_sdks) == 0, "old SDK objects are still referenced"
        assert len(asyncio.all_tasks()) <= tasks + 2
        assert len(os.listdir("/proc/self/fd")) <= fds + 4


async def test_messages_reach_intake_once_each_in_the_order_the_gateway_sent_them(tmp_path, gateway):
    channel = WechatyChannel(settings_for(tmp_path, gateway.endpoint), FAST)
    async with Running(channel) as run:
        await run.until(lambda: channel.connects == 1, what="the first connection")
        said = [await asyncio.to_thread(gateway.say, "wxid_wang", f"第{i}条") for i in range(30)]
        await run.until(lambda: len(run.received) >= 30, what="30 messages")
        await asyncio.sleep(0.3)
        assert [m.message_id for m in run.received] == [s["id"] for s in said]


async def test_scan_logout_and_login_are_logged_once_each_and_replies_wait_for_the_login(tmp_path, gateway, caplog):
    caplog.set_level(logging.INFO, logger="bot.channels.wechaty")
    channel = WechatyChannel(settings_for(tmp_path, gateway.endpoint), replace(FAST, send_wait=10.0))
    async with Running(channel) as run:
        await run.until(lambda: channel.connects == 1, what="the first connection")
        await asyncio.to_thread(gateway.command, "logout")
        await run.until(lambda: "logged out at the puppet service" in caplog.text, what="the logout line")
        for _ in range(3):  # a gateway repeats its QR code while it waits
            await asyncio.to_thread(gateway.command, "scan", qrcode="https://login.weixin.qq.com/l/abc=")
        await run.until(lambda: "scan https://wechaty.js.org/qrcode/" in caplog.text, what="the QR line")
        mark = gateway.mark()
        reply = asyncio.create_task(channel.send(Reply("您好", GROUP_ROOM, GROUP, "wxid_wang", "王女士")))
        await asyncio.sleep(0.5)
        assert not reply.done() and not gateway.sent(mark), "a reply waits while the account is logged out"
        await asyncio.to_thread(gateway.command, "login")
        await asyncio.wait_for(reply, 5)
        assert [e["text"] for e in gateway.sent(mark)] == ["@王女士\u2005您好"]
        assert caplog.text.count("WeChat login needed") == 1
        assert "https%3A%2F%2Flogin.weixin.qq.com%2Fl%2Fabc%3D" in caplog.text
        assert caplog.text.count("logged in at the puppet service") == 2
        assert channel.connects == 1, "a logout is not a dead link"
