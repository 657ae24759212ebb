"""Nothing leaked (issue 14, items 7-9): who may read which ticket, which room a group is, file
modes and the access log. Real parts: a real bot and store, the backend as a subprocess."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backend.process import free_port
from bot.messages import IncomingMessage
from tests.bot_harness import ADMIN, API_KEY, GROUP, MANAGER, VILLAGE, VILLAGE_MANAGER, running_bot, settings_for

pytestmark = pytest.mark.usefixtures("bot_env")
ROOT = Path(__file__).resolve().parents[1]
LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，麻烦尽快派人来修"


async def test_a_ticket_is_read_by_its_reporters_its_groups_managers_and_admins_only(tmp_path, backend,
                                                                                   shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        await chat.say("王女士", LIGHT)
        await chat.settle()
        number = (await chat.bot.store.one("SELECT service_request_id FROM tickets"))["service_request_id"]
        seq = number.split("-")[1]
        for ask in (f"查询 {number}", f"查询 {seq}", "查询 #1", "查询 1"):
            for who, kwargs in (("老张", {}), ("周书记", {"group": VILLAGE, "sender_id": VILLAGE_MANAGER}),
                                ("老张", {"group": None})):
                said = await chat.say(who, ask, **kwargs)
                assert "没有找到" in said[0].text and "当前状态" not in said[0].text, (who, ask, said[0].text)
            for who, kwargs in (("王女士", {}), ("小李", {"sender_id": MANAGER}),
                                ("管理员", {"group": None, "sender_id": ADMIN})):
                said = await chat.say(who, ask, **kwargs)
                assert "当前状态" in said[0].text, (who, ask, said[0].text)


async def test_a_second_room_with_a_monitored_name_is_refused_and_reported(tmp_path, backend, shipped_models):
    settings = settings_for(tmp_path, backend.base_url, shipped_models[0])
    async with running_bot(settings) as chat:
        await chat.say("王女士", "大家好")  # the real room: pinned on first sight
        impostor = [IncomingMessage(f"x{i}", "fake-room@chatroom", GROUP, "wxid_x", "冒充者", LIGHT) for i in range(2)]
        said = [r for msg in impostor for r in await chat.deliver(msg)]
        assert (await chat.bot.store.one("SELECT count(*) AS n FROM messages WHERE group_id = 'fake-room@chatroom'"))["n"] == 0
        to_admin = [r for r in said if r.to_id == ADMIN]
        assert len(to_admin) == 1 and "fake-room" in to_admin[0].text and to_admin[0].group_id is None
        assert not [r for r in said if r.group_id == "fake-room@chatroom"]
        # An admin lets the name go to the new room (the old one was dissolved).
        await chat.say("管理员", f"换群 {GROUP}", group=None, sender_id=ADMIN)
        said = await chat.deliver(IncomingMessage("x9", "fake-room@chatroom", GROUP, "wxid_x", "新群居民", LIGHT))
        assert said and said[0].group_id == "fake-room@chatroom"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_store_database_and_secret_files_are_private_whatever_the_umask(tmp_path, shipped_models):
    old = os.umask(0o022)
    try:
        port = free_port()
        env = {**os.environ, "GRIDBOT_API_KEYS": API_KEY}
        proc = subprocess.Popen([sys.executable, "-m", "backend", "--host", "127.0.0.1", "--port", str(port),
                                 "--db", str(tmp_path / "b" / "backend.db"), "--access-log"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(f"{base}/services.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            httpx.post(f"{base}/requests.json", data={"api_key": API_KEY, "service_code": "lighting",
                                                      "description": "灯坏了", "address_string": "3栋",
                                                      "attribute[group]": GROUP})
            httpx.get(f"{base}/requests.json", params={"api_key": API_KEY, "service_code": "lighting"})
            httpx.get(f"{base}/ledger", params={"q": "王秀英13812345678"})
            settings = settings_for(tmp_path, base, shipped_models[0])
            async with running_bot(settings) as chat:
                await chat.say("王女士", LIGHT)
                await chat.settle()
                bot_files = [settings.store_path, Path(f"{settings.store_path}-wal"), Path(f"{settings.store_path}-shm")]
                assert all(mode(p) == 0o600 for p in bot_files if p.exists()), [oct(mode(p)) for p in bot_files]
        finally:
            proc.terminate()
            log = proc.communicate(timeout=20)[0].decode(errors="replace")
    finally:
        os.umask(old)
    backend_files = [p for p in (tmp_path / "b").iterdir()]
    assert backend_files and all(mode(p) == 0o600 for p in backend_files), [(p.name, oct(mode(p))) for p in backend_files]
    assert "GET /requests.json" in log  # the access log is on, and keeps paths only
    assert API_KEY not in log and "api_key" not in log and "王秀英" not in log and "13812345678" not in log
