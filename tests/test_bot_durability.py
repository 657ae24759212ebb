"""Nothing is lost and nothing is made twice: a backend that is down or refuses, a crash mid-way,
a restart, a replayed history, a model that changes under a running bot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from backend.process import BackendProcess, free_port
from bot.messages import IncomingMessage
from bot.store import Store
from bot.tracker import TrackerClient
from classifier import registry
from tests.bot_harness import API_KEY, GROUP, running_bot, settings_for

ROOT = Path(__file__).resolve().parents[1]
LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"
NUMBER = re.compile(r"GX\d{8}-\d{4}")

pytestmark = pytest.mark.usefixtures("bot_env")


async def all_tickets(base_url: str) -> list[dict]:
    """Every ticket the backend holds (its Open311 list of the last 90 days)."""
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base_url}/requests.json")).json()


async def test_a_backend_that_is_down_gets_every_ticket_exactly_once_when_it_returns(tmp_path, shipped_models):
    port = free_port()
    settings = settings_for(tmp_path, f"http://127.0.0.1:{port}", shipped_models[0], tracker__max_attempts=1)
    async with running_bot(settings) as chat:
        chat.bot.outbox.base_delay = 0.01
        said = await chat.say("王女士", LIGHT)
        said += await chat.say("老张", "小区东门的水管爆了，水一直往外冒，路上全是水")
        assert [r.to_name for r in said] == ["王女士", "老张"]
        assert all("稍有延迟" in r.text for r in said)
        queued = await chat.bot.store.one("SELECT count(*) AS n FROM tickets WHERE state = 'queued'")
        assert queued["n"] == 2
        with BackendProcess(tmp_path / "backend.db", api_keys=[API_KEY], port=port) as backend:
            said = await chat.settle()
            assert sorted(r.to_name for r in said) == ["王女士", "老张"]
            assert all(NUMBER.search(r.text) for r in said)
            await chat.settle()
            tickets = await all_tickets(backend.base_url)
    assert len(tickets) == 2
    assert {t["service_code"] for t in tickets} == {"lighting", "water"}


async def test_a_ticket_made_before_a_crash_is_not_made_again(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    # The bot crashed after the backend made the ticket but before it wrote the number down:
    # the store still has the outbox row; the backend already has a ticket under the message id.
    async with running_bot(settings) as chat:
        await chat.bot.handle(chat.message("王女士", LIGHT, message_id="wx-msg-1"))
        row = await chat.bot.store.one("SELECT payload, idempotency_key FROM outbox")
    payload = json.loads(row["payload"])
    async with TrackerClient(backend.base_url, API_KEY) as client:
        made = await client.create(payload.pop("service_code"), payload.pop("description"),
                                   idempotency_key=row["idempotency_key"], **payload)
    async with running_bot(settings) as chat:
        said = await chat.settle()
    assert made.service_request_id in said[0].text
    assert len(await all_tickets(backend.base_url)) == 1


async def test_messages_stored_before_a_crash_are_finished_after_restart(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    store = await Store.open(settings.store_path)
    await store.insert_message(IncomingMessage("crash-1", f"{GROUP}@chatroom", GROUP, "wxid_w", "王女士", LIGHT))
    await store.insert_message(IncomingMessage("crash-2", f"{GROUP}@chatroom", GROUP, "wxid_z", "张阿姨", "吃了吗"))
    await store.close()
    async with running_bot(settings) as chat:
        said = await chat.settle()
        states = {r["key"]: r["state"] for r in await chat.bot.store.all("SELECT key, state FROM messages")}
    assert [r.to_name for r in said] == ["王女士"] and NUMBER.search(said[0].text)
    assert states == {"crash-1": "answered", "crash-2": "ignored"}
    async with running_bot(settings) as chat:
        assert await chat.settle() == []
        assert await chat.deliver(IncomingMessage("crash-1", f"{GROUP}@chatroom", GROUP, "wxid_w", "王女士",
                                                  LIGHT)) == []
    assert len(await all_tickets(backend.base_url)) == 1


async def test_a_backend_that_refuses_the_key_stops_the_bot_before_it_takes_a_message(tmp_path, shipped_models):
    from bot.config import ConfigError

    with BackendProcess(tmp_path / "backend.db", api_keys=["another-key"]) as backend:
        settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
        with pytest.raises(ConfigError, match="refused the api key"):
            async with running_bot(settings):
                pass  # never reached: no complaint is taken (and refused) with a wrong key


async def test_the_running_bot_follows_promote_and_keeps_the_last_good_model(tmp_path, backend, shipped_models):
    models = tmp_path / "models"
    shutil.copytree(shipped_models[0], models)
    live = registry.current_version(models)
    shutil.copytree(models / live, models / "20990101-000000")
    card = json.loads((models / "20990101-000000" / "card.json").read_text())
    card["version"] = "20990101-000000"
    (models / "20990101-000000" / "card.json").write_text(json.dumps(card))
    settings = settings_for(tmp_path, backend.base_url, models, classifier__reload_interval=0)
    async with running_bot(settings) as chat:
        assert chat.bot.live_model.version == live
        registry.promote(models, "20990101-000000")
        await chat.say("王女士", "今天天气不错")
        assert chat.bot.live_model.version == "20990101-000000"
        shutil.copytree(models / live, models / "20990102-000000")
        with open(models / "20990102-000000" / "model.skops", "r+b") as fh:
            fh.seek(100)
            fh.write(b"tampered")
        (models / "CURRENT").write_text("20990102-000000\n")
        said = await chat.say("王女士", LIGHT)
        assert chat.bot.live_model.version == "20990101-000000" and NUMBER.search(said[0].text)


def write_config(tmp_path: Path, base_url: str, model_dir: Path) -> Path:
    data = {"channel": "console",
            "groups": [{"name": GROUP, "community": "太湖港街道彭家场社区", "grid_managers": ["wxid_li"], "mode": "live"}],
            "admins": ["wxid_admin"],
            "tracker": {"base_url": base_url, "api_key_env": "GRIDBOT_TEST_API_KEY"},
            "store": {"path": str(tmp_path / "bot.db")},
            "classifier": {"model_dir": str(model_dir), "ignore_below": 0.45, "auto_ticket": 0.6}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_replay_backfills_tickets_and_is_idempotent(tmp_path, backend, shipped_models):
    config = write_config(tmp_path, backend.base_url, shipped_models[0])
    transcript = tmp_path / "history.jsonl"
    lines = [
        {"id": "h1", "group": GROUP, "sender_id": "wxid_w", "sender_name": "王女士", "text": LIGHT,
         "time": "2026-11-20T09:15:00+08:00"},
        {"id": "h2", "group": GROUP, "sender_id": "wxid_z", "sender_name": "张阿姨", "text": "早上好各位"},
        "not json at all",
        {"id": "h3", "group": "别的群", "sender_id": "wxid_x", "sender_name": "路人", "text": LIGHT},
        {"group": GROUP, "text": "没有id"},
        {"id": "h4", "group": GROUP, "sender_id": "wxid_l", "sender_name": "老张",
         "text": "小区东门的水管爆了，水一直往外冒，路上全是水"},
    ]
    transcript.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)
                                    for x in lines) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "bot", "replay", str(transcript), "--config", str(config)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    out = [json.loads(line) for line in first.stdout.splitlines()]
    assert [o["in_reply_to"] for o in out] == ["h1", "h4"]
    assert all(set(o) == {"in_reply_to", "group", "to", "text", "ticket"} for o in out)
    assert out[0]["to"] == "王女士" and out[0]["group"] == GROUP and NUMBER.fullmatch(out[0]["ticket"])
    assert "history.jsonl:3" in first.stderr and "history.jsonl:5" in first.stderr
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and second.stdout == ""


def test_bad_config_stops_start_up_with_the_key_path(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("channel: console\ngroups: []\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "groups: must be a non-empty list" in done.stderr
    path.write_text("channel: [unclosed\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not valid YAML" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_model_stops_start_up_clearly(tmp_path, backend, monkeypatch):
    config = write_config(tmp_path, backend.base_url, tmp_path / "no-models")
    done = subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 3 and "no live model" in done.stderr


def test_sigterm_stops_the_bot_cleanly_and_a_restart_resumes(tmp_path, backend, shipped_models, monkeypatch):
    import os
    import signal
    import sqlite3
    import time

    config = write_config(tmp_path, backend.base_url, shipped_models[0])
    env = {**os.environ, "GRIDBOT_TEST_API_KEY": API_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write(f"/as 王女士@{GROUP}\n{LIGHT}\n")
    proc.stdin.flush()
    deadline, seen = time.monotonic() + 60, ""
    while "工单号" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    assert "工单号" in seen
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    con = sqlite3.connect(tmp_path / "bot.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    states = [r[0] for r in con.execute("SELECT state FROM messages")]
    unsent = con.execute("SELECT count(*) FROM replies WHERE sent_at IS NULL").fetchone()[0]
    con.close()
    assert states == ["answered"] and unsent == 0
