"""Tracking backend benchmark: create + get round trip on loopback, and creates/s under 50 clients.

`run()` returns rows {name, value, unit, note}; `python -m bench.backend_bench` prints them as a
Markdown table. The backend runs as its own process (`python -m backend`) on a temporary database,
driven through bot.tracker.TrackerClient, i.e. the same code path the bot uses.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from backend.process import BackendProcess
from bot.tracker import RetryPolicy, TrackerClient, TrackerError

API_KEY = "bench-key"
ROUND_TRIPS = 500
WARMUP = 30
CLIENTS = 50
CREATES = 6000
TARGET_CREATES_PER_S = 500

# No retries: an error must show up in the figures, not be smoothed over.
NO_RETRY = RetryPolicy(max_attempts=1)


def _client(base_url: str) -> TrackerClient:
    return TrackerClient(base_url, API_KEY, retry=NO_RETRY, timeout=30.0)


async def _create(client: TrackerClient, n: int, prefix: str) -> str:
    ticket = await client.create(
        "lighting", f"3栋楼道路灯坏了，第{n}次反映", address_string="太湖港街道彭家场社区",
        group="景湖名都业主群", reporter=f"wxid_{n % 97}", message_id=f"{prefix}-{n}",
    )
    return ticket.service_request_id


async def round_trips(base_url: str, count: int = ROUND_TRIPS) -> list[float]:
    """Milliseconds for each sequential create followed by a get of the new ticket."""
    timings = []
    async with _client(base_url) as client:
        for n in range(WARMUP + count):
            start = time.perf_counter()
            ticket = await _create(client, n, "rt")
            await client.get(ticket)
            if n >= WARMUP:
                timings.append((time.perf_counter() - start) * 1000)
    return timings


async def concurrent_creates(base_url: str, clients: int = CLIENTS, creates: int = CREATES) -> dict:
    """`clients` independent clients share `creates` creates; returns rate, errors and tickets."""
    numbers = iter(range(creates))
    tickets: list[str] = []
    errors: list[str] = []

    async def worker() -> None:
        async with _client(base_url) as client:
            for n in numbers:  # a shared iterator: each number is taken by exactly one worker
                try:
                    tickets.append(await _create(client, n, "load"))
                except TrackerError as exc:
                    errors.append(str(exc))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return {"rate": creates / elapsed, "elapsed": elapsed, "tickets": tickets, "errors": errors}


async def raw_concurrent_creates(base_url: str, clients: int = CLIENTS, creates: int = CREATES) -> dict:
    """The same creates from `clients` keep-alive connections speaking HTTP/1.1 by hand.

    httpx spends about as much CPU per request as the backend does, and both share this machine's
    cores, so this lighter generator is what measures the backend's own capacity.
    """
    url = urlsplit(base_url)
    numbers = iter(range(creates))
    tickets: list[str] = []
    errors: list[str] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            for n in numbers:
                status, payload = await _raw_post(reader, writer, n)
                if status == 200:
                    tickets.append(json.loads(payload)[0]["service_request_id"])
                else:
                    errors.append(f"HTTP {status}: {payload[:80]!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return {"rate": creates / elapsed, "elapsed": elapsed, "tickets": tickets, "errors": errors}


async def _raw_post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> tuple[int, bytes]:
    body = urlencode({
        "api_key": API_KEY, "service_code": "lighting", "description": f"3栋楼道路灯坏了，第{n}次反映",
        "address_string": "太湖港街道彭家场社区", "attribute[group]": "景湖名都业主群",
        "attribute[reporter]": f"wxid_{n % 97}", "attribute[message_id]": f"raw-{n}",
    }).encode()
    writer.write(
        b"POST /requests.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Idempotency-Key: raw-%d\r\nContent-Length: %d\r\n\r\n%s" % (n, len(body), body)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    payload = await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head.split(b" ", 2)[1]), payload


def _stored_tickets(db_path: Path) -> tuple[int, int]:
    """(rows, distinct ticket numbers) as the backend stored them."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT ticket) FROM requests").fetchone()


def _percentile(values: list[float], pct: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="gridbot-bench-") as tmp:
        db_path = Path(tmp) / "backend.db"
        with BackendProcess(db_path, api_keys=[API_KEY]) as backend:
            timings = asyncio.run(round_trips(backend.base_url))
            raw = asyncio.run(raw_concurrent_creates(backend.base_url))
            tracked = asyncio.run(concurrent_creates(backend.base_url, creates=CREATES // 2))
        rows, distinct = _stored_tickets(db_path)
    expected_rows = WARMUP + ROUND_TRIPS + CREATES + CREATES // 2
    errors = raw["errors"] + tracked["errors"]
    answered = raw["tickets"] + tracked["tickets"]
    duplicates = (len(answered) - len(set(answered))) + (rows - distinct)
    verdict = "meets" if raw["rate"] >= TARGET_CREATES_PER_S else "BELOW"
    pairs = f"loopback, sequential, {ROUND_TRIPS} pairs through TrackerClient"
    return [
        {"name": "create + get round trip p50", "value": round(_percentile(timings, 50), 2),
         "unit": "ms", "note": pairs},
        {"name": "create + get round trip p99", "value": round(_percentile(timings, 99), 2),
         "unit": "ms", "note": pairs},
        {"name": f"backend creates/s, {CLIENTS} concurrent clients", "value": round(raw["rate"]),
         "unit": "creates/s",
         "note": f"{CREATES} creates in {raw['elapsed']:.1f}s over {CLIENTS} keep-alive connections "
                 f"(light HTTP/1.1 generator); {verdict} the {TARGET_CREATES_PER_S}/s target"},
        {"name": f"TrackerClient creates/s, {CLIENTS} clients", "value": round(tracked["rate"]),
         "unit": "creates/s",
         "note": f"{CREATES // 2} creates from {CLIENTS} TrackerClients; httpx shares the cores with the backend"},
        {"name": "errors under load", "value": len(errors), "unit": "count",
         "note": errors[0][:80] if errors else "no retries, so every failure counts"},
        {"name": "duplicate tickets under load", "value": duplicates, "unit": "count",
         "note": f"{rows} rows stored of {expected_rows} creates; {distinct} distinct ticket numbers"},
    ]


if __name__ == "__main__":
    from bench import table

    print(table(run()))
