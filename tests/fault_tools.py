"""Helpers for the fault, fuzz, security and load tests.

- `transcript()`: a chat history generated from the shipped corpus (fixed seed, unique ids) over
  a number of configured groups, with a sprinkle of unmonitored-group, private and command lines.
- `bot_config()` / `write_config()`: a bot config for those groups (one grid manager each).
- `FaultyProxy`: a loopback HTTP proxy in front of the real backend that misbehaves on cue, per
  request: refuses connections, answers 5xx/429, hangs up, loses the answer after the backend did
  the work, or answers slowly. Every request it saw is recorded (raw bytes) for privacy checks.
- `exactly_once()`: what both stores say after a run: every message at its end once, every ticket
  in the backend once, nothing left in the outbox, and `PRAGMA integrity_check` ok.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import yaml

from bot import config
from classifier.corpus import TRAIN
from tests.backend_fixtures import Canned, _read_request

# Where a message may rest: the pipeline is done with it (awaiting waits for a person, not the bot).
END_STATES = {"ignored", "answered", "awaiting"}
UNMONITORED = "不在配置里的群"
# What a resident is told when their message reaches its end (bot/replies.py): a ticket number,
# a merge into an open ticket, a question to the grid manager, a refusal by the backend.
OUTCOMES = ("已为您登记", "并入同一工单", "已请网格员确认", "未能自动登记")
ADMIN = "wxid_admin"


@lru_cache(maxsize=1)
def corpus() -> tuple[tuple[str, str], ...]:
    """(text, label) of every line of the shipped training corpus, in file order."""
    rows = [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple((r["text"], r["label"]) for r in rows)


def group_names(count: int) -> list[str]:
    return [f"测试{i:03d}号小区业主群" for i in range(count)]


def manager_of(index: int) -> str:
    return f"wxid_mgr{index:03d}"


def bot_config(tmp: Path, base_url: str, model_dir: Path, groups: int, **sections) -> dict:
    """A config mapping for `groups` generated groups; `sections` replace or extend top-level keys."""
    data = {
        "channel": "console",
        "groups": [{"name": name, "community": f"测试街道{i:03d}社区", "grid_managers": [manager_of(i)], "mode": "live"}
                   for i, name in enumerate(group_names(groups))],
        "admins": [ADMIN],
        "tracker": {"base_url": base_url, "api_key_env": "GRIDBOT_TEST_API_KEY", "timeout": 10,
                    "poll_interval": 3600},
        "store": {"path": str(tmp / "bot.db")},
        "classifier": {"model_dir": str(model_dir), "ignore_below": 0.45, "auto_ticket": 0.6},
        # Generated residents speak often; the per-resident flood guard is tested elsewhere. Corpus
        # lines often name no place: asking about it (tested in test_conversation) is turned off here.
        "limits": {"reports_per_hour": 10_000, "ask_window_minutes": 0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def settings(tmp: Path, base_url: str, model_dir: Path, groups: int, **sections) -> config.Settings:
    return config.parse(bot_config(tmp, base_url, model_dir, groups, **sections), "test", tmp)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def transcript(count: int, groups: int, seed: int, residents: int = 200, unmonitored: float = 0.02,
               private: float = 0.01, commands: float = 0.02, prefix: str = "t") -> list[dict]:
    """`count` chat lines with unique ids, texts drawn from the corpus; the same seed, the same lines."""
    rng = random.Random(seed)
    texts = corpus()
    names = group_names(groups)
    rows = []
    for n in range(count):
        who = rng.randrange(residents)
        row = {"id": f"{prefix}{seed}-{n:06d}", "group": rng.choice(names), "sender_id": f"wxid_res{who:04d}",
               "sender_name": f"居民{who}", "text": rng.choice(texts)[0]}
        roll = rng.random()
        if roll < unmonitored:
            row["group"] = UNMONITORED
        elif roll < unmonitored + private:
            row["group"] = None
        elif roll < unmonitored + private + commands:
            row["text"] = rng.choice(["我的工单", "帮助", f"查询 #{rng.randrange(1, 50)}", "查询 GX20990101-0001"])
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def monitored_ids(rows: list[dict]) -> set[str]:
    """Ids of the lines the bot stores: those of configured groups and private chats."""
    return {r["id"] for r in rows if r.get("group") != UNMONITORED}


def read_only(path: Path) -> sqlite3.Connection:
    """A read-only look at a SQLite file another process is writing (WAL lets both proceed)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def rows(path: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    conn = read_only(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def backend_requests(backend_db: Path) -> list[sqlite3.Row]:
    """Every ticket the backend holds, straight from its database (the system of record)."""
    return rows(backend_db, "SELECT ticket, message_id, reporter, group_name, description, idempotency_key"
                            " FROM requests ORDER BY id")


def exactly_once(bot_db: Path, backend_db: Path, expected: set[str]) -> dict:
    """Assert nothing was lost and nothing was done twice; returns counts for the report."""
    messages = rows(bot_db, "SELECT key, state FROM messages")
    keys = [m["key"] for m in messages]
    assert len(keys) == len(set(keys))
    assert set(keys) == expected, (f"lost {sorted(expected - set(keys))[:5]}",
                                   f"unexpected {sorted(set(keys) - expected)[:5]}")
    unfinished = [dict(m) for m in messages if m["state"] not in END_STATES]
    assert not unfinished, f"{len(unfinished)} messages not at their end, e.g. {unfinished[:3]}"
    pending = rows(bot_db, "SELECT * FROM outbox WHERE done_at IS NULL AND failed_at IS NULL")
    assert not pending, f"{len(pending)} outbox rows still pending"
    # Each message's answers were queued once: a step done twice would queue its reply twice.
    doubled = rows(bot_db, "SELECT message_key, text, count(*) AS n FROM replies WHERE message_key IS NOT NULL"
                           " GROUP BY message_key, to_id, text HAVING n > 1")
    assert not doubled, f"replies queued twice: {[dict(d) for d in doubled[:3]]}"
    # And each reached one outcome: one ticket number, one merge, or one question to a manager.
    outcomes = rows(bot_db, "SELECT message_key, group_concat(text, ' | ') AS texts, count(*) AS n FROM replies"
                            " WHERE message_key IS NOT NULL AND (" + " OR ".join(["text LIKE ?"] * len(OUTCOMES))
                    + ") GROUP BY message_key HAVING n > 1", tuple(f"%{m}%" for m in OUTCOMES))
    assert not outcomes, f"messages with two outcomes: {[dict(o) for o in outcomes[:3]]}"
    made = {t["message_key"]: t["service_request_id"] for t in
            rows(bot_db, "SELECT message_key, service_request_id FROM tickets WHERE service_request_id IS NOT NULL")}
    remote = backend_requests(backend_db)
    by_message: dict[str, list[str]] = {}
    for r in remote:
        by_message.setdefault(r["message_id"], []).append(r["ticket"])
    twice = {k: v for k, v in by_message.items() if len(v) > 1}
    assert not twice, f"tickets made twice in the backend: {dict(list(twice.items())[:3])}"
    assert {k: v[0] for k, v in by_message.items()} == made, "the bot's ticket numbers and the backend's differ"
    failed = rows(bot_db, "SELECT count(*) AS n FROM tickets WHERE state = 'failed'")[0]["n"]
    assert failed == 0, f"{failed} tickets refused by the backend"
    assert integrity(bot_db) == "ok"
    assert not rows(bot_db, "PRAGMA foreign_key_check")
    states: dict[str, int] = {}
    for m in messages:
        states[m["state"]] = states.get(m["state"], 0) + 1
    return {"messages": len(keys), "tickets": len(made), "states": states}


# -- a misbehaving backend -------------------------------------------------------------------

@dataclass(frozen=True)
class Slow:
    """Forward the request, then hold the backend's answer this many seconds."""

    seconds: float


@dataclass(frozen=True)
class Lost:
    """Forward the request (the backend does the work), then hang up without answering."""


Fault = Canned | Slow | Lost | None
Plan = Callable[[int, str], Fault]  # (request number from 0, "POST /requests.json") -> what to do


@dataclass
class FaultyProxy:
    """In front of the backend at `upstream_port`; `plan` decides each request's fate (None: forward).

    `refuse()` closes the listening socket (connection refused, as a stopped backend), `accept()`
    opens it again on the same port. One request per connection: answers carry `Connection: close`.
    """

    upstream_port: int
    plan: Plan = lambda number, line: None
    seen: list[tuple[float, str, str, str]] = field(default_factory=list)  # (monotonic, line, fault, key)
    raw: list[bytes] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None
    _handlers: set = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> "FaultyProxy":
        await self.accept()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.refuse()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def accept(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def count(self, fault: str | None = None, line: str = "POST /requests.json") -> int:
        return sum(1 for _, seen_line, f, _ in self.seen if seen_line == line and (fault is None or f == fault))

    def arrivals(self, key: str) -> list[float]:
        """When each request carrying this Idempotency-Key arrived (monotonic seconds)."""
        return [at for at, _, _, seen_key in self.seen if seen_key == key]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers.add(asyncio.current_task())
        try:
            request = await _read_request(reader)
            if request is None:
                return
            line = " ".join(request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]).split("?")[0]
            fault = self.plan(len(self.seen), line)
            key = re.search(rb"(?im)^idempotency-key: *([^\r\n]*)", request)
            self.seen.append((time.monotonic(), line, _name(fault), key.group(1).decode() if key else ""))
            self.raw.append(request)
            if isinstance(fault, Canned):
                if fault.raw is None:
                    await reader.read()
                else:
                    writer.write(fault.raw)
                    await writer.drain()
                return
            answer = await self._forward(request)
            if isinstance(fault, Lost):
                return
            if isinstance(fault, Slow):
                await asyncio.sleep(fault.seconds)
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._handlers.discard(asyncio.current_task())

    async def _forward(self, request: bytes) -> bytes:
        head, _, body = request.partition(b"\r\n\r\n")
        head = re.sub(rb"(?im)^connection:[^\r\n]*\r\n?", b"", head).rstrip(b"\r\n")
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            up_writer.write(head + b"\r\nConnection: close\r\n\r\n" + body)
            await up_writer.drain()
            return await up_reader.read()
        finally:
            up_writer.close()


def _name(fault: Fault) -> str:
    if fault is None:
        return "forward"
    if isinstance(fault, Canned):
        if fault.raw is None:
            return "silence"
        if not fault.raw:
            return "hang-up"
        return fault.raw.split(b" ", 2)[1].decode()
    return type(fault).__name__.lower()


