"""Load benchmark: a replay of 20,000 messages over 300 groups at the fastest rate the bot takes.

The bot runs as in production (`bot.runtime.serve`: intake, the outbox worker, the reply sender)
against the reference backend on loopback; its channel hands over the next message as soon as
intake returns from the last one. Texts come from the shipped corpus (fixed seed), with residents,
commands, private chats and unmonitored groups mixed in (tests/fault_tools.transcript).

Figures: messages/s taken by intake and end to end (until every ticket is in the backend and every
reply is out), latency per message (handle(), and from handle() start to its first reply sent),
peak memory of the bot and of the backend. Then the same checks as the fault tests: every message
at its end once, every ticket in the backend once; a loss or a duplicate fails the benchmark.

The measurement runs in a child process so that its peak memory is the bot's alone:
`python -m bench.load_bench [--messages N --groups G]` prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MESSAGES, GROUPS, SEED = 20_000, 300, 20261125
API_KEY = "bench-load-key"
KEY_ENV = "GRIDBOT_TEST_API_KEY"


class TimedChannel:
    """Hands over `messages` back to back and notes when each was taken and first answered."""

    def __init__(self, messages):
        self.messages = messages
        self.started: dict[str, float] = {}
        self.handled: dict[str, float] = {}
        self.first_reply: dict[str, float] = {}
        self.ticket_reply: dict[str, float] = {}
        self.replies = 0
        self.done_at: float | None = None

    async def run(self, on_message) -> None:
        for msg in self.messages:
            self.started[msg.message_id] = time.perf_counter()
            await on_message(msg)
            self.handled[msg.message_id] = time.perf_counter()
        self.done_at = time.perf_counter()

    async def send(self, reply) -> None:
        now = time.perf_counter()
        self.replies += 1
        if reply.in_reply_to:
            self.first_reply.setdefault(reply.in_reply_to, now)
            if reply.ticket:
                self.ticket_reply.setdefault(reply.in_reply_to, now)

    async def stop(self) -> None:
        return None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] if ordered else float("nan")


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def load(messages: int, groups: int, tmp: Path, model_dir: Path, seed: int = SEED) -> dict:
    """Replay `messages` over `groups` through a real bot and backend; checks and figures as a dict."""
    from bot.__main__ import transcript_message
    from tests import fault_tools

    history = fault_tools.transcript(messages, groups, seed, residents=max(10, messages // 10))
    incoming = [transcript_message(row) for row in history]
    previous, os.environ[KEY_ENV] = os.environ.get(KEY_ENV), API_KEY
    try:
        return await _measure(incoming, history, groups, tmp, model_dir)
    finally:
        if previous is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = previous


async def _measure(incoming, history, groups: int, tmp: Path, model_dir: Path) -> dict:
    from backend.process import BackendProcess
    from bot.runtime import open_bot, serve
    from bot.sender import Sender
    from tests import fault_tools

    messages = len(incoming)
    with BackendProcess(tmp / "backend.db", api_keys=[API_KEY]) as backend:
        settings = fault_tools.settings(tmp, backend.base_url, model_dir, groups, tracker={"poll_interval": 86400})
        channel = TimedChannel(incoming)
        async with open_bot(settings) as bot:
            start = time.perf_counter()
            await serve(bot, channel)
            if not await bot.outbox.drain(3600):
                raise RuntimeError("the outbox did not empty within an hour")
            sender = Sender(bot.store, channel)
            while await sender.send_pending():
                pass
            end = time.perf_counter()
        backend_peak = _peak_kb(backend._proc.pid)
        summary = fault_tools.exactly_once(settings.store_path, backend.db_path, fault_tools.monitored_ids(history))
    handle_ms = [(channel.handled[k] - channel.started[k]) * 1000 for k in channel.handled]
    reply_ms = [(t - channel.started[k]) * 1000 for k, t in channel.first_reply.items()]
    ticket_ms = [(t - channel.started[k]) * 1000 for k, t in channel.ticket_reply.items()]
    return {
        "messages": messages, "groups": groups, "stored": summary["messages"], "tickets": summary["tickets"],
        "states": summary["states"], "replies": channel.replies,
        "taken_s": channel.done_at - start, "total_s": end - start,
        "handle_p50": percentile(handle_ms, 50), "handle_p99": percentile(handle_ms, 99),
        "reply_p50": percentile(reply_ms, 50), "reply_p99": percentile(reply_ms, 99), "answered": len(reply_ms),
        "ticket_p50": percentile(ticket_ms, 50), "ticket_p99": percentile(ticket_ms, 99),
        "bot_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "backend_peak_mb": backend_peak / 1024,
    }


def rows(r: dict) -> list[dict]:
    what = f"{r['messages']:,} messages over {r['groups']} groups, local backend"
    states = ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items()))
    return [
        {"name": "messages/s taken by intake", "value": round(r["messages"] / r["taken_s"]), "unit": "msg/s",
         "note": f"{what}; {r['taken_s']:.1f} s to hand all over, one after another"},
        {"name": "messages/s end to end", "value": round(r["messages"] / r["total_s"]), "unit": "msg/s",
         "note": f"until {r['tickets']:,} tickets were in the backend and {r['replies']:,} replies out "
                 f"({r['total_s']:.1f} s)"},
        {"name": "handle() p50 / p99", "value": f"{r['handle_p50']:.1f} / {r['handle_p99']:.1f}", "unit": "ms",
         "note": "store, classify, decide, queue: what holds up the next message"},
        {"name": "message → first reply sent p50 / p99", "value": f"{r['reply_p50']:.0f} / {r['reply_p99']:.0f}",
         "unit": "ms", "note": f"{r['answered']:,} answered messages; includes waiting behind the outbox backlog"},
        {"name": "message → ticket number sent p50 / p99",
         "value": f"{r['ticket_p50']:.0f} / {r['ticket_p99']:.0f}", "unit": "ms",
         "note": "the outbox makes tickets one at a time while intake runs flat out"},
        {"name": "peak memory, bot / backend", "value": f"{r['bot_peak_mb']:.0f} / {r['backend_peak_mb']:.0f}",
         "unit": "MB", "note": "max RSS of the bot process (model, store, 20k queued messages) and of the backend"},
        {"name": "lost / duplicate", "value": "0 / 0", "unit": "messages / tickets",
         "note": f"checked: {r['stored']:,} stored messages all at their end ({states}); each ticket once "
                 f"in the backend; integrity_check ok"},
    ]


def run(messages: int = MESSAGES, groups: int = GROUPS) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "bench.load_bench", "--child", "--messages", str(messages),
                           "--groups", str(groups)], cwd=ROOT, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"load replay failed: {done.stderr.strip().splitlines()[-5:]}")
    return rows(json.loads(done.stdout.strip().splitlines()[-1]))


def _child(messages: int, groups: int) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="gridbot-load-") as tmp:
        result = asyncio.run(load(messages, groups, Path(tmp), ROOT / "models"))
    print(json.dumps(result))


def main() -> None:
    from bench import table

    p = argparse.ArgumentParser(prog="python -m bench.load_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=MESSAGES)
    p.add_argument("--groups", type=int, default=GROUPS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.messages, args.groups)
    else:
        print(table(run(args.messages, args.groups)))


if __name__ == "__main__":
    main()
