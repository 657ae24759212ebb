"""The bot's disk fills up or turns read-only: a clear error, and the bot stops taking messages
rather than taking them into a store that cannot keep them. What it had stored stays, and a start
after the disk is fixed finishes it.

How the condition is made (as root, chmod does not stop a write):
- a real one: the store on a small tmpfs that is filled to the last byte (ENOSPC, SQLite's
  "database or disk is full"), or remounted read-only (EROFS, "attempt to write a readonly
  database"). Mounting needs CAP_SYS_ADMIN; without it those tests are skipped.
- always: the same SQLite errors on an ordinary file, from `PRAGMA max_page_count` (SQLITE_FULL,
  the code a full disk gives) and `PRAGMA query_only` (SQLITE_READONLY) on the bot's connection.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime import serve
from bot.store import StoreError
from tests.bot_harness import ListChannel, running_bot, settings_for
from tests.fault_tools import bot_config, corpus, exactly_once, integrity, rows, write_config

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"GX\d{8}-\d{4}")
COMPLAINTS = ["3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修",
              "小区东门的水管爆了，水一直往外冒，路上全是水",
              "晚上12点了7栋楼上还在装修电钻响个不停，吵得睡不着"]

pytestmark = pytest.mark.usefixtures("bot_env")


class Feed:
    """A channel that hands over `messages` one by one and records how far it got."""

    def __init__(self, messages, after=None):
        self.messages, self.after = messages, after or {}
        self.handed: list[str] = []
        self.out = ListChannel()

    async def run(self, on_message) -> None:
        for n, msg in enumerate(self.messages):
            if n in self.after:
                await self.after[n]()
            self.handed.append(msg.message_id)
            await on_message(msg)

    async def send(self, reply) -> None:
        await self.out.send(reply)

    async def stop(self) -> None:
        return None


@pytest.mark.parametrize("pragma, error", [("max_page_count", "database or disk is full"),
                                           ("query_only", "readonly database")],
                         ids=["disk-full", "read-only"])
async def test_a_store_that_cannot_write_stops_the_bot_and_loses_nothing_it_took(
        tmp_path, backend, shipped_models, pragma, error):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0], limits={"reports_per_hour": 1000})
    texts = [t for t, _ in corpus()[:60]]
    async with running_bot(settings) as chat:
        messages = [chat.message(f"居民{n}", text * 4, message_id=f"d{n}") for n, text in enumerate(texts)]

        async def break_the_store():
            if pragma == "max_page_count":
                pages = (await chat.bot.store.one("PRAGMA page_count"))[0]
                await chat.bot.store.db.execute(f"PRAGMA max_page_count = {pages}")
            else:
                await chat.bot.store.db.execute("PRAGMA query_only = 1")

        feed = Feed(messages, after={10: break_the_store})
        with pytest.raises(StoreError, match=error):
            await serve(chat.bot, feed)
        assert 10 < len(feed.handed) < len(messages)  # it stopped taking messages
    # The disk is fixed: a new start finishes every message the bot took and stored.
    async with running_bot(settings) as chat:
        await chat.settle()
    stored = {r["key"] for r in rows(settings.store_path, "SELECT key FROM messages")}
    assert stored >= set(feed.handed[:10]) and stored <= set(feed.handed)
    exactly_once(settings.store_path, backend.db_path, stored)


async def test_a_reply_is_not_said_again_and_again_while_the_store_cannot_record_it(tmp_path, backend,
                                                                                    shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        await chat.bot.handle(chat.message("王女士", COMPLAINTS[0]))
        await chat.bot.outbox.run_once()
        await chat.bot.store.db.execute("PRAGMA query_only = 1")
        stop = asyncio.Event()
        sender = asyncio.create_task(chat.sender.run(stop, idle=0.05))
        await asyncio.sleep(1.0)
        stop.set()
        await sender
        await chat.bot.store.db.execute("PRAGMA query_only = 0")
        assert len(chat.channel.sent) == 1 and NUMBER.search(chat.channel.sent[0].text)
        await chat.sender.send_pending()  # the store takes writes again: the reply is recorded, not repeated
        assert len(chat.channel.sent) == 1
        assert (await chat.bot.store.one("SELECT count(*) FROM replies WHERE sent_at IS NULL"))[0] == 0


# -- a real small disk ------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs for the bot's store; skipped where mounting is not allowed."""
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    yield where
    for bot in ConsoleBot.started:  # a failed test may leave one running on the disk
        if bot.proc.returncode is None:
            bot.proc.kill()
    ConsoleBot.started.clear()
    subprocess.run(["mount", "-o", "remount,rw", str(where)], capture_output=True)
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory: Path) -> Path:
    """Take every free byte of the file system `directory` is on."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


class ConsoleBot:
    """`python -m bot run` on the console channel, typed into through a pipe."""

    started: list["ConsoleBot"] = []

    def __init__(self, config: Path):
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []

    async def start(self, stdin=asyncio.subprocess.PIPE) -> "ConsoleBot":
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--config", str(self.config), cwd=ROOT, stdin=stdin,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        ConsoleBot.started.append(self)
        return self

    async def say(self, text: str, expect: re.Pattern, timeout: float = 60) -> str:
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(self._until(expect), timeout)

    async def _until(self, pattern: re.Pattern) -> str:
        while line := (await self.proc.stdout.readline()).decode():
            self.lines.append(line)
            if pattern.search(line):
                return line
        raise AssertionError(f"the bot ended without saying {pattern.pattern}: {self.lines[-5:]}")

    async def said_to(self, text: str) -> tuple[int, str]:
        """Type a line the bot should fail on; (exit code, stderr)."""
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()
        _, err = await asyncio.wait_for(self.proc.communicate(), 60)
        return self.proc.returncode, err.decode(errors="replace")

    async def run_to_end(self, timeout: float = 90) -> tuple[int, str]:
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        self.lines += out.decode().splitlines(keepends=True)
        return self.proc.returncode, err.decode(errors="replace")


def console_config(tmp_path: Path, store: Path, backend, models: Path) -> Path:
    data = bot_config(tmp_path, backend.base_url, models, groups=1, store={"path": str(store)})
    return write_config(tmp_path / "config.yaml", data)


async def test_the_bot_stops_with_a_clear_error_when_its_disk_fills_and_resumes_after(
        tmp_path, small_disk, backend, shipped_models):
    config = console_config(tmp_path, small_disk / "bot.db", backend, shipped_models[0])
    bot = await ConsoleBot(config).start()
    for text in COMPLAINTS[:2]:
        await bot.say(text, NUMBER)
    filler = fill(small_disk)
    code, err = await bot.said_to(COMPLAINTS[2])
    assert code == 4, err
    last = err.strip().splitlines()[-1]  # what the person at the terminal reads last
    assert last.startswith(f"store error: {small_disk / 'bot.db'}") and "database or disk is full" in last
    assert last.endswith("the bot stopped taking messages, nothing stored was lost")
    filler.unlink()
    code, err = await (await ConsoleBot(config).start(stdin=asyncio.subprocess.DEVNULL)).run_to_end()
    assert code == 0, err
    stored = {r["key"] for r in rows(small_disk / "bot.db", "SELECT key FROM messages")}
    assert len(stored) in (2, 3)  # the third was either refused whole or taken and finished now
    summary = exactly_once(small_disk / "bot.db", backend.db_path, stored)
    assert summary["tickets"] == len(stored)


# A file system cannot be remounted read-only while the bot holds its store open for writing
# (the kernel answers "busy"), so a store turning read-only under a running bot is the query_only
# case above; a store that is read-only when the bot starts is a real read-only mount.
async def test_a_read_only_store_stops_start_up_with_a_clear_error(tmp_path, small_disk, backend, shipped_models):
    config = console_config(tmp_path, small_disk / "bot.db", backend, shipped_models[0])
    code, _ = await (await ConsoleBot(config).start(stdin=asyncio.subprocess.DEVNULL)).run_to_end()
    assert code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, err = await (await ConsoleBot(config).start(stdin=asyncio.subprocess.DEVNULL)).run_to_end(timeout=60)
    assert code == 4 and "Traceback" not in err
    assert f"store error: {small_disk / 'bot.db'}: cannot open the bot's store" in err
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert integrity(small_disk / "bot.db") == "ok"
