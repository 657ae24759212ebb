"""The intake API as a hotline system uses it: `python -m bot run` with `channels: [http]`, the live
model and the reference backend on loopback; a client posts transcripts one at a time.

Measured: POST /v1/messages → 202 (the report stored and through the steps), and POST → the
ticket number readable by GET /v1/messages/{id} (the outbox has made it on the backend), each over
200 reports after 10 warm-up ones, each at its own place so none merges.

`run()` returns rows {name, value, unit, note}; `python -m bench.http_bench` prints them.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml

from bench.load_bench import percentile

ROOT = Path(__file__).resolve().parents[1]
REPORTS, WARMUP = 200, 10
TOKEN = "bench-intake-token-0123456789"
API_KEY = "bench-http-key"


def _free_port() -> int:
    from backend.process import free_port
    return free_port()


def measure(tmp: Path) -> dict:
    from backend.process import BackendProcess

    texts = [f"市民来电反映：{n}号楼北侧路灯不亮已经一周，晚上出行不便，请尽快维修" for n in range(1, REPORTS + WARMUP + 1)]
    with BackendProcess(tmp / "backend.db", api_keys=[API_KEY]) as backend:
        port = _free_port()
        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump({
            "channels": ["http"], "groups": [{"name": "热线演示群", "grid_managers": ["wxid_m"], "mode": "live"}],
            "admins": ["wxid_admin"], "store": {"path": str(tmp / "bot.db")},
            "tracker": {"base_url": backend.base_url, "api_key_env": "GRIDBOT_BENCH_KEY", "poll_interval": 3600},
            "classifier": {"model_dir": str(ROOT / "models")},
            "limits": {"reports_per_hour": 10_000},
            "http": {"port": port, "token_env": "GRIDBOT_BENCH_TOKEN"}}, allow_unicode=True), encoding="utf-8")
        env = {**os.environ, "GRIDBOT_BENCH_KEY": API_KEY, "GRIDBOT_BENCH_TOKEN": TOKEN}
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], cwd=ROOT, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if http.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or bot.poll() is not None:
                        raise RuntimeError("the bot's http channel did not come up")
                    time.sleep(0.2)
                accepted, numbered, tickets = [], [], 0
                for i, text in enumerate(texts):
                    body = {"id": uuid.uuid4().hex, "source": "hotline", "text": text,
                            "reporter": {"id": f"caller-{i}", "name": "来电人"}}
                    start = time.perf_counter()
                    answer = http.post("/v1/messages", json=body)
                    took = time.perf_counter() - start
                    if answer.status_code != 202:
                        raise RuntimeError(f"POST answered {answer.status_code}: {answer.text}")
                    key = answer.json()["id"]
                    while True:
                        found = http.get(f"/v1/messages/{key}").json()
                        if found["ticket"] or found["state"] not in ("received", "filing"):
                            break
                        time.sleep(0.002)
                    done = time.perf_counter() - start
                    if i >= WARMUP:
                        accepted.append(took * 1000)
                        numbered.append(done * 1000)
                        tickets += bool(found["ticket"])
        finally:
            bot.terminate()
            bot.wait(30)
    return {"accepted": accepted, "numbered": numbered, "tickets": tickets}


def rows(m: dict) -> list[dict]:
    a, n = m["accepted"], m["numbered"]
    return [
        {"name": "POST /v1/messages → 202 p50 / p99", "value": f"{percentile(a, 50):.1f} / {percentile(a, 99):.1f}",
         "unit": "ms", "note": f"{len(a)} hotline transcripts one at a time; stored and through the steps; "
                               f"mean {statistics.mean(a):.1f} ms"},
        {"name": "POST → ticket number readable p50 / p99", "value": f"{percentile(n, 50):.1f} / {percentile(n, 99):.1f}",
         "unit": "ms", "note": f"GET /v1/messages/{{id}} polled every 2 ms; {m['tickets']} of {len(n)} became tickets"},
    ]


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="gridbot-http-") as tmp:
        return rows(measure(Path(tmp)))


if __name__ == "__main__":
    from bench import table

    print(table(run()))
