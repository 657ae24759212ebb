"""The tracking backend misbehaves under a running bot: slow, 500/503/429, connections closed in the
middle of a request, away for a long while. Whatever it does, every ticket reaches it exactly once
(the outbox retries; the Idempotency-Key makes a repeat return the ticket already made) and every
resident ends up with the number the backend really gave."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from bot.runtime import serve
from tests.backend_fixtures import Canned
from tests.bot_harness import GROUP, VILLAGE, running_bot, settings_for
from tests.fault_tools import FaultyProxy, Lost, Plan, Slow, backend_requests, corpus, exactly_once, rows

NUMBER = re.compile(r"GX\d{8}-\d{4}")
COMPLAINTS = [  # five categories the shipped model is sure of, so each makes its own ticket
    "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修",
    "小区东门的水管爆了，水一直往外冒，路上全是水",
    "5栋有人在楼道里给电瓶车充电，电线从窗户拉下来，太危险了",
    "晚上12点了7栋楼上还在装修电钻响个不停，吵得睡不着",
    "9栋这个月电费突然多了好几百，电表是不是坏了，供电所也没人管",
]

pytestmark = pytest.mark.usefixtures("bot_env")


def first_posts(faults: list) -> Plan:
    """A plan: the first creates meet `faults` in turn, everything after goes through."""
    script = list(faults)

    def plan(number: int, line: str):
        if line == "POST /requests.json" and script:
            return script.pop(0)
        return None
    return plan


async def complain_through(proxy, tmp_path, models, backend, **tracker) -> dict:
    """Five residents complain through the proxy; returns what each was told, once all settled."""
    tracker = {"tracker__timeout": 3, "tracker__max_attempts": 1, **tracker}
    settings = settings_for(tmp_path, proxy.base_url, models, **tracker)
    told: dict[str, list[str]] = {}
    async with running_bot(settings) as chat:
        chat.bot.outbox.base_delay, chat.bot.outbox.max_delay = 0.05, 0.5
        for n, text in enumerate(COMPLAINTS):
            await chat.say(f"居民{n}", text, message_id=f"c{n}")
        assert await chat.bot.outbox.drain(60)
        await chat.settle()
        for reply in chat.channel.sent:
            told.setdefault(reply.to_name, []).append(reply.text)
    exactly_once(settings.store_path, backend.db_path, {f"c{n}" for n in range(len(COMPLAINTS))})
    return told


def assert_told_the_real_numbers(told: dict, backend) -> None:
    numbers = {r["message_id"]: r["ticket"] for r in backend_requests(backend.db_path)}
    assert len(numbers) == len(COMPLAINTS)
    for n in range(len(COMPLAINTS)):
        said = told[f"居民{n}"]
        assert [NUMBER.search(t).group(0) for t in said if NUMBER.search(t)] == [numbers[f"c{n}"]], said


@pytest.mark.parametrize("faults", [
    [Canned.status(500, "Internal Server Error")] * 3 + [Canned.status(503, "Service Unavailable")] * 4,
    [Canned.status(502, "Bad Gateway"), Canned.status(504, "Gateway Timeout")] * 4,
], ids=["500-503", "502-504"])
async def test_server_errors_then_recovery_make_every_ticket_once(tmp_path, backend, shipped_models, faults):
    async with FaultyProxy(backend.port, first_posts(faults)) as proxy:
        told = await complain_through(proxy, tmp_path, shipped_models[0], backend)
    assert_told_the_real_numbers(told, backend)
    assert proxy.count("forward") == len(COMPLAINTS)
    # The first failure of each ticket told its resident that registration is delayed, once.
    assert sum("稍有延迟" in t for said in told.values() for t in said) <= len(COMPLAINTS)


async def test_too_many_requests_is_waited_out_as_the_server_asks(tmp_path, backend, shipped_models):
    faults = [Canned.status(429, "Too Many Requests", {"Retry-After": "1"})] * 2
    async with FaultyProxy(backend.port, first_posts(faults)) as proxy:
        told = await complain_through(proxy, tmp_path, shipped_models[0], backend)
    assert_told_the_real_numbers(told, backend)
    # A ticket refused with "Retry-After: 1" is not asked for again before that second has passed.
    for key in ("c0", "c1"):
        first, second = proxy.arrivals(key)
        assert second - first >= 0.95


@pytest.mark.parametrize("fault", [Lost(), Canned.hang_up(), Canned.silence()],
                         ids=["answer-lost-after-ticket-made", "hung-up-before-forwarding", "never-answers"])
async def test_connections_closed_mid_request_make_every_ticket_once(tmp_path, backend, shipped_models, fault):
    async with FaultyProxy(backend.port, first_posts([fault] * 4)) as proxy:
        told = await complain_through(proxy, tmp_path, shipped_models[0], backend, tracker__timeout=1)
    assert_told_the_real_numbers(told, backend)
    if isinstance(fault, Lost):
        # The backend made those tickets although the bot never heard; the retries found them.
        assert proxy.count() == len(COMPLAINTS) + 4


async def test_slow_answers_that_outlast_the_timeout_make_no_second_ticket(tmp_path, backend, shipped_models):
    # Every create takes 5 s to answer (after the backend did the work); the bot waits 2 s.
    async with FaultyProxy(backend.port, first_posts([Slow(5.0)] * 3)) as proxy:
        told = await complain_through(proxy, tmp_path, shipped_models[0], backend, tracker__timeout=2)
    assert_told_the_real_numbers(told, backend)


async def test_slow_answers_within_the_timeout_are_waited_for(tmp_path, backend, shipped_models):
    async with FaultyProxy(backend.port, lambda n, line: Slow(5.0) if line.startswith("POST") else None) as proxy:
        started = time.monotonic()
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0], tracker__timeout=8)
        async with running_bot(settings) as chat:
            said = await chat.say("王女士", COMPLAINTS[0], message_id="slow-1")
    assert time.monotonic() - started >= 5
    assert NUMBER.search(said[0].text) and proxy.count() == 1
    exactly_once(settings.store_path, backend.db_path, {"slow-1"})


async def test_an_event_delivered_again_while_its_ticket_waits_is_not_handled_twice(tmp_path, backend,
                                                                                    shipped_models):
    async with FaultyProxy(backend.port) as proxy:
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0], tracker__max_attempts=1)
        async with running_bot(settings) as chat:
            chat.bot.outbox.base_delay = 0.01
            await proxy.refuse()
            msg = chat.message("王女士", COMPLAINTS[0], message_id="again-1")
            first = await chat.deliver(msg)
            again = await chat.deliver(msg)
            assert [r.text for r in first] == [first[0].text] and "稍有延迟" in first[0].text
            assert again == []
            await proxy.accept()
            said = await chat.settle()
    assert len(said) == 1 and NUMBER.search(said[0].text) and "已为您登记" in said[0].text
    exactly_once(settings.store_path, backend.db_path, {"again-1"})


@pytest.mark.slow
async def test_a_long_outage_then_every_kind_of_failure_still_delivers_every_ticket_once(
        tmp_path, backend, shipped_models):
    """The backend is away for OUTAGE seconds while residents keep complaining, then comes back
    sick: 500s, 503s, 429s, dropped connections, answers lost after the work was done, 5 s answers.
    The bot runs as in production: the outbox worker and the reply sender in the background."""
    outage = 40.0
    sick = ([Canned.status(500, "Internal Server Error"), Canned.status(503, "Service Unavailable")] * 6
            + [Canned.status(429, "Too Many Requests", {"Retry-After": "1"})] * 4
            + [Lost(), Canned.hang_up()] * 4 + [Slow(5.0)] * 3)
    texts = [t for t, label in corpus() if label != "none"][:400:10]  # 40 complaints of every kind
    script = list(sick)

    def plan(number: int, line: str):
        # The sick answers are for creates; the api-key check at start goes through.
        return script.pop(0) if script and line == "POST /requests.json" else None

    async with FaultyProxy(backend.port, plan) as proxy:
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0], tracker__timeout=2,
                                tracker__max_attempts=1)
        async with running_bot(settings) as chat:
            bot = chat.bot
            bot.outbox.base_delay, bot.outbox.max_delay = 0.2, 3.0
            stop = asyncio.Event()
            workers = [asyncio.create_task(bot.outbox.run(stop, idle=0.2)),
                       asyncio.create_task(chat.sender.run(stop, idle=0.2))]
            await proxy.refuse()
            started = time.monotonic()
            for n, text in enumerate(texts):
                await bot.handle(chat.message(f"居民{n}", text, group=(GROUP, VILLAGE)[n % 2],
                                              message_id=f"storm-{n}"))
                chat.sender.wake()
                await asyncio.sleep(outage * 0.75 / len(texts))
            await asyncio.sleep(max(0.0, outage - (time.monotonic() - started)))
            rounds = (await bot.store.one("SELECT min(attempts) AS lo, max(attempts) AS hi FROM outbox"))
            creates = [seen for seen in proxy.seen if seen[1] == "POST /requests.json"]
            assert creates == [] and rounds["lo"] >= 1 and rounds["hi"] >= 5  # retried all along
            await proxy.accept()
            deadline = time.monotonic() + 120
            while await bot.store.one("SELECT 1 FROM outbox WHERE done_at IS NULL AND failed_at IS NULL"):
                assert time.monotonic() < deadline, "the outbox did not empty after the backend came back"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*workers)
            await chat.sender.send_pending()
    assert script == []  # every scripted failure really happened
    summary = exactly_once(settings.store_path, backend.db_path, {f"storm-{n}" for n in range(len(texts))})
    assert summary["tickets"] >= 20
    # Every ticketed resident was told the backend's own number, once.
    numbers = {r["message_key"]: r["service_request_id"] for r in
               rows(settings.store_path, "SELECT message_key, service_request_id FROM tickets"
                                         " WHERE service_request_id IS NOT NULL")}
    for key, number in numbers.items():
        told = [r for r in chat.channel.sent if r.in_reply_to == key and number in r.text]
        assert len(told) == 1, (key, number, [r.text for r in chat.channel.sent if r.in_reply_to == key])


class Once:
    """A channel whose input ends right after it handed over `messages` (a piped console, a replay)."""

    def __init__(self, messages):
        self.messages, self.sent = messages, []

    async def run(self, on_message) -> None:
        for msg in self.messages:
            await on_message(msg)

    async def send(self, reply) -> None:
        self.sent.append(reply)

    async def stop(self) -> None:
        return None


async def test_input_that_ends_while_the_outbox_is_sending_gets_each_answer_once(tmp_path, backend, shipped_models):
    # When the input ends, serve() drains the outbox while its worker may be mid-send on the same rows.
    slow = lambda number, line: Slow(0.3) if line == "POST /requests.json" else None  # noqa: E731
    async with FaultyProxy(backend.port, slow) as proxy:
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0])
        async with running_bot(settings) as chat:
            messages = [chat.message(f"居民{n}", text, message_id=f"end-{n}") for n, text in enumerate(COMPLAINTS)]
            channel = Once(messages)
            await serve(chat.bot, channel)
    for n in range(len(COMPLAINTS)):
        numbers = [r.text for r in channel.sent if r.in_reply_to == f"end-{n}" and NUMBER.search(r.text)]
        assert len(numbers) == 1, numbers
    exactly_once(settings.store_path, backend.db_path, {f"end-{n}" for n in range(len(COMPLAINTS))})
