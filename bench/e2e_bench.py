"""End-to-end latency of one message: intake → tracking backend → reply, one message at a time.

The bot runs as in production (`bot.runtime.serve`: intake, the outbox worker, the reply sender)
with the live model and the reference backend on loopback; only the chat network is left out (the
WeChat benchmark measures that way). A resident's complaint is timed from the moment the channel
hands it to intake to the moment the reply carrying the backend's ticket number leaves through the
channel; the next message goes in only then. For comparison: a status query (`查询 GX…`, answered
from the store) and chit-chat (stored, classified, ignored: no reply).

`run()` returns rows {name, value, unit, note}; `python -m bench.e2e_bench` prints them.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench.load_bench import API_KEY, KEY_ENV, percentile

ROOT = Path(__file__).resolve().parents[1]
COMPLAINTS, WARMUP = 200, 10
NUMBER = re.compile(r"GX\d{8}-\d{4}")


def texts(model_dir: Path, auto_ticket: float) -> tuple[list[str], list[str]]:
    """(complaints the live model tickets at once, chit-chat it ignores), distinct, from the held-out split."""
    from classifier import registry
    from classifier.corpus import EVAL, NONE, read_examples

    model = registry.load_current(model_dir)
    examples = list(dict.fromkeys((ex.text, ex.label) for ex in read_examples(EVAL)))
    predicted = model.predict([text for text, _ in examples])
    complaints = [t for (t, label), (got, p) in zip(examples, predicted) if label != NONE and got == label
                  and p >= auto_ticket]
    chat = [t for (t, label), (got, _) in zip(examples, predicted) if label == NONE and got == NONE]
    need = COMPLAINTS + WARMUP
    if len(complaints) < need or len(chat) < need:
        raise RuntimeError(f"the held-out split has {len(complaints)} sure complaints and {len(chat)} chit-chat;"
                           f" {need} of each are needed")
    return complaints[:need], chat[:need]


class Stopwatch:
    """A channel that hands over one message, waits for its answer (if one is due), then the next."""

    def __init__(self, plan):
        self.plan = plan  # [(kind, message, pattern the answer must match or None)]
        self.timings: dict[str, list[tuple[float, float]]] = {}  # kind -> [(handle ms, answer ms)]
        self.tickets: dict[str, str] = {}
        self._wanted: tuple[str, re.Pattern] | None = None
        self._answered = asyncio.Event()

    async def run(self, on_message) -> None:
        for kind, msg, pattern in self.plan:
            self._wanted, self._answered = ((msg.message_id, pattern) if pattern else None), asyncio.Event()
            start = time.perf_counter()
            await on_message(msg)
            handled = time.perf_counter()
            if pattern:
                await asyncio.wait_for(self._answered.wait(), 60)
            answered = time.perf_counter()
            self.timings.setdefault(kind, []).append(((handled - start) * 1000, (answered - start) * 1000))

    async def send(self, reply) -> None:
        if self._wanted and reply.in_reply_to == self._wanted[0] and self._wanted[1].search(reply.text):
            if reply.ticket:
                self.tickets[reply.in_reply_to] = reply.ticket
            self._answered.set()

    async def stop(self) -> None:
        return None


async def measure(tmp: Path, model_dir: Path) -> dict:
    from backend.process import BackendProcess
    from bot.messages import IncomingMessage
    from bot.runtime import open_bot, serve
    from tests import fault_tools

    os.environ[KEY_ENV] = API_KEY
    groups = COMPLAINTS + WARMUP  # one group per complaint: nothing merges into an earlier ticket
    with BackendProcess(tmp / "backend.db", api_keys=[API_KEY]) as backend:
        settings = fault_tools.settings(tmp, backend.base_url, model_dir, groups, tracker={"poll_interval": 86400})
        complaints, chat = texts(model_dir, settings.classifier.auto_ticket)
        names = fault_tools.group_names(groups)

        def message(kind: str, n: int, text: str) -> IncomingMessage:
            return IncomingMessage(f"{kind}-{n}", f"{names[n]}@chatroom", names[n], f"wxid_e2e{n}", f"居民{n}", text)

        first = Stopwatch([("complaint", message("c", n, t), NUMBER) for n, t in enumerate(complaints)]
                          + [("chat", message("z", n, t), None) for n, t in enumerate(chat)])
        async with open_bot(settings) as bot:
            await serve(bot, first)
            queries = Stopwatch([("query", message("q", n, f"查询 {first.tickets[f'c-{n}']}"), re.compile("当前状态"))
                                 for n in range(len(complaints))])
            await serve(bot, queries)
    timings = {kind: values[WARMUP:] for kind, values in {**first.timings, **queries.timings}.items()}
    return timings


def rows(timings: dict) -> list[dict]:
    complaint = [answer for _, answer in timings["complaint"]]
    intake = [handle for handle, _ in timings["complaint"]]
    query = [answer for _, answer in timings["query"]]
    chat = [handle for handle, _ in timings["chat"]]
    how = f"{len(complaint)} complaints one at a time, after {WARMUP} warm-up; loopback backend, live model"
    return [
        {"name": "complaint → ticket number sent p50", "value": round(percentile(complaint, 50), 1), "unit": "ms",
         "note": how},
        {"name": "complaint → ticket number sent p95", "value": round(percentile(complaint, 95), 1), "unit": "ms",
         "note": "intake + outbox create/get on the backend + reply sender"},
        {"name": "complaint → ticket number sent p99", "value": round(percentile(complaint, 99), 1), "unit": "ms",
         "note": f"mean {statistics.fmean(complaint):.1f} ms, max {max(complaint):.1f} ms"},
        {"name": "of which intake (handle()) p50", "value": round(percentile(intake, 50), 1), "unit": "ms",
         "note": "store, classify, decide, ticket and outbox rows, before any HTTP"},
        {"name": "status query → answer sent p50 / p99",
         "value": f"{percentile(query, 50):.1f} / {percentile(query, 99):.1f}", "unit": "ms",
         "note": "`查询 GX…` answered from the bot's store"},
        {"name": "chit-chat handle() p50 / p99", "value": f"{percentile(chat, 50):.1f} / {percentile(chat, 99):.1f}",
         "unit": "ms", "note": "stored, classified, ignored; nothing said"},
    ]


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="gridbot-e2e-") as tmp:
        return rows(asyncio.run(measure(Path(tmp), ROOT / "models")))


if __name__ == "__main__":
    from bench import table

    print(table(run()))
