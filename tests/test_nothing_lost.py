"""Nothing lost (issue 14, items 1-5): each defect the outside review found, reproduced with real
parts (backend subprocess, a fault proxy in front of it, real store files, the real model)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from backend.process import BackendProcess
from bot import tickets
from bot.channels import ChannelError
from bot.retrain import Retrainer
from bot.sender import Sender
from classifier import registry
from tests.backend_fixtures import Canned
from tests.bot_harness import ADMIN, API_KEY, GROUP, MANAGER, running_bot, settings_for
from tests.fault_tools import FaultyProxy

pytestmark = pytest.mark.usefixtures("bot_env")
ROOT = Path(__file__).resolve().parents[1]
LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，麻烦尽快派人来修"
WATER = "5栋门口的下水道堵了，污水漫到路上，臭得不行"


def config_file(tmp_path: Path, base_url: str, models: Path) -> Path:
    data = {"groups": [{"name": GROUP, "community": "太湖港街道彭家场社区", "grid_managers": [MANAGER], "mode": "live"}],
            "admins": [ADMIN], "tracker": {"base_url": base_url, "api_key_env": "GRIDBOT_TEST_API_KEY"},
            "store": {"path": str(tmp_path / "bot.db")},
            "classifier": {"model_dir": str(models), "ignore_below": 0.45, "auto_ticket": 0.6}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_wrong_api_key_stops_the_bot_at_start(tmp_path, shipped_models):
    with BackendProcess(tmp_path / "backend.db", api_keys=["another-key"]) as backend:
        config = config_file(tmp_path, backend.base_url, shipped_models[0])
        transcript = tmp_path / "t.jsonl"
        transcript.write_text('{"id":"k1","group":"%s","sender_id":"w","text":"%s"}\n' % (GROUP, LIGHT), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "bot", "replay", str(transcript), "--config", str(config)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "refused the api key" in done.stderr and "GRIDBOT_TEST_API_KEY" in done.stderr
    assert done.stdout == ""  # no resident was told anything untrue


async def test_a_refused_ticket_waits_for_its_manager_and_is_sent_again_once_fixed(tmp_path, backend,
                                                                                   shipped_models):
    refusing = True

    def plan(number: int, line: str):
        # The real create is refused with a 400 until fixed.
        if refusing and line == "POST /requests.json":
            return Canned.status(400, "Bad Request")
        return None

    async with FaultyProxy(backend.port, plan=plan) as proxy:
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0])
        async with running_bot(settings) as chat:
            said = await chat.say("王女士", LIGHT)
            said += await chat.settle()
            ticket = await chat.bot.store.one("SELECT * FROM tickets")
            assert ticket["state"] == "awaiting"  # in the manager's 待确认, with the reason
            to_resident = [r.text for r in said if r.to_name == "王女士"]
            assert to_resident and "转给网格员核实" in to_resident[0]
            to_manager = [r for r in said if r.to_id == MANAGER]
            assert to_manager and to_manager[0].group_id is None and "400" in to_manager[0].text
            pending = await chat.say("小李", "待确认", sender_id=MANAGER)
            assert f"#{ticket['id']}" in pending[0].text
            listed = await chat.say("管理员", "故障", group=None, sender_id=ADMIN)
            assert "400" in listed[0].text
        refusing = False
        # The admin's CLI, on the same store while no bot runs.
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({
            "groups": [{"name": GROUP, "grid_managers": [MANAGER], "mode": "live"}], "admins": [ADMIN],
            "tracker": {"base_url": proxy.base_url, "api_key_env": "GRIDBOT_TEST_API_KEY"},
            "store": {"path": str(tmp_path / "bot.db")}, "classifier": {"model_dir": str(shipped_models[0])}},
            allow_unicode=True), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "bot", "requeue", "--config", str(config)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "requeued 1" in done.stdout, done.stderr
        async with running_bot(settings) as chat:
            said = await chat.settle()
            ticket = await chat.bot.store.one("SELECT * FROM tickets")
    assert ticket["state"] == "open" and ticket["service_request_id"]
    assert any(ticket["service_request_id"] in r.text for r in said if r.to_name == "王女士")


async def test_a_manager_can_confirm_a_refused_ticket_once_the_backend_takes_it(tmp_path, backend, shipped_models):
    refusing = True

    def plan(number: int, line: str):
        return Canned.status(422, "Unprocessable") if refusing and line == "POST /requests.json" else None

    async with FaultyProxy(backend.port, plan=plan) as proxy:
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0])
        async with running_bot(settings) as chat:
            await chat.say("王女士", LIGHT)
            await chat.settle()
            local = (await chat.bot.store.one("SELECT id FROM tickets"))["id"]
            refusing = False
            said = await chat.say("小李", f"确认 {local}", sender_id=MANAGER)
            said += await chat.settle()
            ticket = await chat.bot.store.one("SELECT * FROM tickets")
    assert ticket["state"] == "open" and any(ticket["service_request_id"] in r.text for r in said)


async def test_a_poison_outbox_row_is_set_aside_and_the_others_go_out(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        # A row the outbox cannot even read (an old bug left it without its fields), first in line.
        async with chat.bot.store.transaction() as db:
            await db.execute("INSERT INTO messages (key, group_name, sender_id, sender_name, text, in_group, sent_at,"
                             " received_at, state) VALUES ('old', ?, 'w0', '旧', '旧消息', 1, '2026-01-01', '2026-01-01',"
                             " 'queued')", (GROUP,))
            await db.execute("INSERT INTO tickets (message_key, group_name, reporter_id, reporter_name, category,"
                             " description, state, created_at, updated_at) VALUES ('old', ?, 'w0', '旧', 'lighting',"
                             " '旧消息', 'queued', '2026-01-01', '2026-01-01')", (GROUP,))
            await db.execute("INSERT INTO outbox (ticket_id, kind, payload, idempotency_key, created_at)"
                             " VALUES (1, 'create', '{}', 'old', '2026-01-01')")
        said = await chat.say("王女士", LIGHT)
        said += await chat.settle()
        poison = await chat.bot.store.one("SELECT * FROM outbox WHERE idempotency_key = 'old'")
        good = await chat.bot.store.one("SELECT * FROM tickets WHERE message_key != 'old'")
        listed = await chat.say("管理员", "故障", group=None, sender_id=ADMIN)
    assert poison["failed_at"] and "unexpected error" in poison["last_error"]
    assert good["state"] == "open" and any(good["service_request_id"] in r.text for r in said)
    assert "unexpected error" in listed[0].text


class PoisonChannel:
    """Delivers every reply but those containing `poison`, on which it fails in an unexpected way."""

    def __init__(self, poison: str):
        self.poison, self.sent = poison, []

    async def send(self, reply) -> None:
        if self.poison in reply.text:
            raise TypeError("a bug in rendering this reply")
        self.sent.append(reply)


async def test_a_poison_reply_is_set_aside_and_the_later_ones_go_out(tmp_path, backend, shipped_models):
    from bot.messages import Reply

    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        await chat.bot.store.queue_replies([Reply("POISON", f"{GROUP}@chatroom", GROUP, "w", "王女士"),
                                            Reply("第二条", f"{GROUP}@chatroom", GROUP, "w", "王女士")])
        channel = PoisonChannel("POISON")
        sender = Sender(chat.bot.store, channel)
        await sender.send_pending()
        await sender.send_pending()
        failed = await chat.bot.store.one("SELECT * FROM replies WHERE text = 'POISON'")
    assert [r.text for r in channel.sent] == ["第二条"]
    assert failed["failed_at"] and "TypeError" in failed["last_error"]


async def test_a_black_holed_backend_costs_one_timeout_per_pass_with_production_defaults(tmp_path, backend,
                                                                                        shipped_models):
    silent = True

    def plan(number: int, line: str):
        return Canned.silence() if silent and line == "POST /requests.json" else None

    async with FaultyProxy(backend.port, plan=plan) as proxy:
        # Production defaults: tracker.timeout 10 s, max_attempts 4, parallel 8 (settings_for sets 5 s).
        settings = settings_for(tmp_path, proxy.base_url, shipped_models[0],
                                tracker={"base_url": proxy.base_url, "api_key_env": "GRIDBOT_TEST_API_KEY"})
        assert settings.tracker.timeout == 10 and settings.tracker.max_attempts == 4
        async with running_bot(settings) as chat:
            for i in range(8):
                await chat.bot.handle(chat.message(f"居民{i}", f"{i + 1}栋楼道的灯坏了一个多星期了，晚上黑漆漆的"))
            start = time.monotonic()
            await chat.bot.outbox.run_once()
            one_pass = time.monotonic() - start
            silent = False
            await chat.bot.outbox.drain(120)
            made = await chat.bot.store.all("SELECT service_request_id FROM tickets")
    # Eight rows side by side, each tried once: about one timeout, not 8 rows x 4 attempts x 10 s.
    assert one_pass < 25, one_pass
    assert len({r["service_request_id"] for r in made}) == 8 and all(r["service_request_id"] for r in made)


async def test_a_retraining_past_its_time_is_stopped_and_never_promotes(tmp_path, shipped_models):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(shipped_models[0], models)
    before = {row["version"] for row in registry.versions(models)}
    store = tmp_path / "bot.db"
    from bot.store import Store
    (await Store.open(store)).db  # an empty store: no feedback yet
    results = []

    async def report(result):
        results.append(result)

    retrainer = Retrainer(models, store, timeout=2)
    retrainer.start(report)
    await retrainer.task
    assert results and not results[0]["ok"] and "stopped" in results[0]["error"]
    await asyncio.sleep(3)  # a child left running would write its version by now or soon after
    assert {row["version"] for row in registry.versions(models)} == before


async def test_loading_a_model_leaves_the_event_loop_free(tmp_path, shipped_models):
    import shutil

    from bot.live_model import LiveModel

    models = tmp_path / "models"
    shutil.copytree(shipped_models[0], models)
    live = LiveModel(models, reload_interval=0)
    version = registry.current_version(models)
    shutil.copytree(models / version, models / "20990101-000000")
    card = json.loads((models / "20990101-000000" / "card.json").read_text())
    card["version"] = "20990101-000000"
    (models / "20990101-000000" / "card.json").write_text(json.dumps(card))
    registry.promote(models, "20990101-000000")
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    before = ticks
    label, _ = await live.aclassify(LIGHT)
    task.cancel()
    assert live.version == "20990101-000000" and label == "lighting"
    assert ticks - before >= 5  # the loop ran while the model loaded


async def test_a_nul_character_does_not_get_a_complaint_refused(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        said = await chat.say("王女士", "3栋2单元楼道的灯坏了\x00一个多星期了，晚上黑漆漆的")
        said += await chat.settle()
        ticket = await chat.bot.store.one("SELECT * FROM tickets")
    assert ticket["state"] == "open" and any(ticket["service_request_id"] in r.text for r in said)


async def test_a_ticket_the_backend_made_for_an_earlier_store_is_adopted_not_lost(tmp_path, backend, shipped_models):
    import httpx

    # An earlier store (another reporter salt) already sent this very message: same key, other content.
    with httpx.Client(base_url=backend.base_url) as http:
        made = http.post("/requests.json", headers={"Idempotency-Key": "m1"}, data={
            "api_key": API_KEY, "service_code": "lighting", "description": LIGHT, "address_string": "3栋",
            "attribute[group]": GROUP, "attribute[reporter]": "r-0000000000000000"}).json()[0]["service_request_id"]
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        said = await chat.say("王女士", LIGHT, message_id="m1")
        said += await chat.settle()
        ticket = await chat.bot.store.one("SELECT * FROM tickets")
    assert ticket["service_request_id"] == made and any(made in r.text for r in said)
