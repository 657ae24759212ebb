"""`python -m bot replay` killed with SIGKILL at random points of a 1,000-message history and started
again each time: every message still reaches its end exactly once, the backend holds each ticket
once, every reply the bot decided on reaches the channel (a reply may repeat once per kill: the
sender marks a reply sent after the channel took it), and both SQLite files pass integrity_check."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fault_tools import (bot_config, exactly_once, integrity, monitored_ids, read_only, rows, transcript,
                               write_config, write_jsonl)

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261125
MESSAGES = 1000
COUNT_KILLS = 20   # when the store holds a random number of messages
TIME_KILLS = 5     # at a random moment after start: start-up, migration, resume, re-reading the history

pytestmark = [pytest.mark.usefixtures("bot_env"), pytest.mark.slow]


def stored(db: Path) -> int:
    try:
        conn = read_only(db)
    except sqlite3.Error:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    except sqlite3.Error:  # not created yet, or mid-migration
        return 0
    finally:
        conn.close()


def start(config: Path, history: Path, out: Path) -> subprocess.Popen:
    with open(out, "w", encoding="utf-8") as fh:
        return subprocess.Popen([sys.executable, "-m", "bot", "replay", str(history), "--config", str(config)],
                                cwd=ROOT, stdout=fh, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def kill_when(proc: subprocess.Popen, ready, jitter: float, timeout: float = 120) -> bool:
    """SIGKILL once `ready()` holds (plus `jitter` s); False if the process ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "replay made no progress"
        time.sleep(0.005)
    time.sleep(jitter)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def unfinished(db: Path) -> int:
    """Work a kill left half done: messages short of their end, tickets not sent, replies not said."""
    return rows(db, "SELECT (SELECT count(*) FROM messages WHERE state NOT IN ('ignored', 'answered', 'awaiting'))"
                    " + (SELECT count(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL)"
                    " + (SELECT count(*) FROM replies WHERE sent_at IS NULL)")[0][0]


def test_replay_killed_at_random_points_finishes_every_message_exactly_once(tmp_path, backend, shipped_models):
    history = transcript(MESSAGES, groups=5, seed=SEED)
    history_file = write_jsonl(tmp_path / "history.jsonl", history)
    config = write_config(tmp_path / "config.yaml",
                          bot_config(tmp_path, backend.base_url, shipped_models[0], groups=5))
    db = tmp_path / "bot.db"
    expected = monitored_ids(history)
    rng = random.Random(SEED)
    # Count kills land while new messages go in, at random points spread over the whole history
    # (never at or before what is already stored). Time kills land in start-up: imports, model
    # load, migration, resume, re-reading the history.
    plan = [("count", n) for n in sorted(rng.sample(range(10, len(expected) - 10), COUNT_KILLS))]
    for _ in range(TIME_KILLS):
        plan.insert(rng.randrange(len(plan) + 1), ("time", rng.uniform(0.2, 1.5)))
    outputs, kills, half_done = [], 0, 0
    for run, (kind, point) in enumerate(plan):
        out = tmp_path / f"run-{run:02d}.jsonl"
        outputs.append(out)
        if kind == "count":
            target = max(point, stored(db) + 3)
            ready = lambda: stored(db) >= target  # noqa: E731
        else:
            deadline = time.monotonic() + point
            ready = lambda: time.monotonic() >= deadline  # noqa: E731
        proc = start(config, history_file, out)
        try:
            killed = kill_when(proc, ready, rng.uniform(0, 0.03))
        finally:
            if proc.poll() is None:  # kill_when gave up on it
                proc.kill()
        if not killed:
            assert proc.returncode == 0, f"run {run} ended with {proc.returncode}"
        kills += killed
        half_done += killed and unfinished(db) > 0
    assert kills >= 20 and half_done >= 5, (kills, half_done)
    assert stored(db) < len(expected)  # the last kill still came before the end of the history
    out = tmp_path / "run-final.jsonl"
    outputs.append(out)
    final = start(config, history_file, out)
    assert final.wait(timeout=300) == 0

    summary = exactly_once(db, backend.db_path, expected)
    assert summary["tickets"] >= 100 and summary["states"].get("ignored", 0) >= 100
    assert integrity(backend.db_path) == "ok"
    # Every reply the bot queued reached the channel; a repeat only where a kill fell between
    # the channel taking a reply and the store marking it sent.
    queued = Counter((r["message_key"], r["text"]) for r in rows(db, "SELECT message_key, text, sent_at FROM replies"))
    assert all(r["sent_at"] for r in rows(db, "SELECT sent_at FROM replies"))
    said = Counter()
    for path in outputs:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed run may be cut short
                continue
            said[(row["in_reply_to"], row["text"])] += 1
    assert set(queued) <= set(said), f"never said: {list(set(queued) - set(said))[:3]}"
    repeats = sum(n - queued[key] for key, n in said.items() if n > queued[key])
    assert repeats <= kills
