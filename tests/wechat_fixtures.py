"""WeChat for tests: the official puppet-service gateway over a mock WeChat, and the real bot in front of it.

`Gateway` runs tests/gateway/gateway.mjs (Node): PuppetServer from wechaty-puppet-service in front of
PuppetMock, on a loopback port. Residents speak through it (`gateway.say(...)`), and everything the
bot sends shows up in `gateway.sent()`, with the gateway's own clock. It can be killed, restarted
on the same port with the same people and rooms, and frozen (SIGSTOP) to play a half-open link.

`BotProcess` runs `python -m bot run` exactly as an operator would, with a config file written for
the test, and keeps its log. `bot_db()` reads the bot's SQLite file while it runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from backend.process import free_port

ROOT = Path(__file__).resolve().parents[1]
GATEWAY_DIR = ROOT / "tests" / "gateway"
TOKEN = "insecure_gridbot-test"
TOKEN_ENV = "GRIDBOT_TEST_PUPPET_TOKEN"
API_KEY_ENV = "GRIDBOT_TEST_API_KEY"

BOT = {"id": "wxid_bot", "name": "网格助手"}
GROUP, GROUP_ROOM = "景湖名都业主群", "jinghu@chatroom"
OTHER, OTHER_ROOM = "业主闲聊群", "chat@chatroom"
MANAGER = "wxid_li"
PEOPLE = {"wxid_wang": "王女士", "wxid_zhang": "张阿姨", "wxid_liu": "老刘", MANAGER: "小李"}
WORLD = {
    "self": BOT,
    "contacts": [{"id": i, "name": n} for i, n in PEOPLE.items()],
    "rooms": [{"id": GROUP_ROOM, "topic": GROUP, "members": [BOT["id"], *PEOPLE]},
              {"id": OTHER_ROOM, "topic": OTHER, "members": [BOT["id"], *PEOPLE]}],
}
NUMBER = re.compile(r"GX\d{8}-\d{4}")


def require_node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js 18+ is needed for the WeChat gateway tests (see README)")
    if not (GATEWAY_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        pytest.fail("the gateway's packages are missing: run `make gateway-deps` (npm ci in tests/gateway)")
    return node


class Gateway:
    """The gateway process; `events` holds every JSON line it printed, across restarts."""

    def __init__(self, workdir: Path, port: int | None = None, token: str = TOKEN, world: dict = WORLD):
        self.node = require_node()
        self.port, self.token = port or free_port(), token
        self.endpoint = f"127.0.0.1:{self.port}"
        self.world_file = workdir / "world.json"
        self.world_file.write_text(json.dumps(world, ensure_ascii=False), encoding="utf-8")
        self.log_file = workdir / "gateway.log"
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> dict:
        mark = self.mark()
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [self.node, "gateway.mjs", "--port", str(self.port), "--token", self.token,
                 "--world", str(self.world_file)],
                cwd=GATEWAY_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                env={**os.environ, "WECHATY_LOG": "warn"})
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self.wait(lambda e: e["event"] == "ready", timeout, after=mark,
                         what=f"the gateway to listen on {self.endpoint}")

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def wait(self, pred, timeout: float = 10.0, after: int = 0, what: str = "a gateway event") -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if pred(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(json.dumps(e, ensure_ascii=False) for e in self.events[-15:])
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last events:\n{tail}")
                self._cond.wait(left)

    def _send(self, cmd: dict) -> None:
        self.proc.stdin.write((json.dumps(cmd, ensure_ascii=False) + "\n").encode())
        self.proc.stdin.flush()

    def say(self, sender: str, text: str | None = None, room: str | None = GROUP_ROOM,
            mentions: tuple[str, ...] = (), image: str | None = None) -> dict:
        """A resident speaks in `room` (or privately to the bot with room=None); the `said` event."""
        ref = uuid.uuid4().hex
        cmd = {"op": "say", "from": sender, "ref": ref, "mentions": list(mentions)}
        cmd.update({"room": room} if room else {"to": BOT["id"]})
        cmd.update({"image": image} if image else {"text": text})
        mark = self.mark()
        self._send(cmd)
        return self.wait(lambda e: e.get("ref") == ref, 5, after=mark, what=f"the gateway to deliver {cmd}")

    def command(self, op: str, **fields) -> dict:
        """Any other stdin command (contact, room, scan, logout, login); its `ok` event."""
        ref = uuid.uuid4().hex
        mark = self.mark()
        self._send({"op": op, "ref": ref, **fields})
        event = self.wait(lambda e: e.get("ref") == ref, 5, after=mark, what=f"the gateway to do {op}")
        assert event["event"] == "ok", event
        return event

    def sent(self, after: int = 0) -> list[dict]:
        with self._cond:
            return [e for e in self.events[after:] if e["event"] == "sent"]

    def wait_sent(self, pred, timeout: float = 10.0, after: int = 0, what: str = "the bot to say something") -> dict:
        return self.wait(lambda e: e["event"] == "sent" and pred(e), timeout, after, what)

    def wait_connected(self, timeout: float = 15.0, after: int = 0) -> dict:
        """The bot opened its event stream (it is logged in a moment later)."""
        return self.wait(lambda e: e["event"] == "stream" and e["on"], timeout, after, "the bot to connect")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def mentions(person: str):
    """Predicate: a room message that @-mentions `person`."""
    return lambda e: person in e["mentions"] and e["text"].startswith(f"@{PEOPLE[person]}\u2005")


def write_config(path: Path, endpoint: str, backend_url: str, model_dir: Path, limits: dict | None = None,
                 **classifier) -> Path:
    data = {
        "channel": "wechaty",
        "groups": [{"name": GROUP, "community": "太湖港街道彭家场社区", "grid_managers": [MANAGER], "mode": "live"}],
        "admins": ["wxid_admin"],
        "tracker": {"base_url": backend_url, "api_key_env": API_KEY_ENV, "timeout": 5, "poll_interval": 3600},
        "store": {"path": str(path.parent / "bot.db")},
        "classifier": {"model_dir": str(model_dir), "ignore_below": 0.45, "auto_ticket": 0.6, **classifier},
        "wechaty": {"endpoint": endpoint, "token_env": TOKEN_ENV},
        "limits": limits or {},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class BotProcess:
    """`python -m bot run --config ...`, its stderr kept in bot.log next to the config."""

    def __init__(self, config: Path, token: str = TOKEN, api_key: str | None = None):
        from tests.bot_harness import API_KEY

        self.config, self.log_file = config, config.parent / "bot.log"
        self.db = config.parent / "bot.db"
        self.env = {**os.environ, TOKEN_ENV: token, API_KEY_ENV: api_key or API_KEY,
                    "CACHE_DIR": str(config.parent / "wechaty-cache"), "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen | None = None

    def start(self) -> BotProcess:
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(self.config)],
                                         cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 30.0, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            if len(re.findall(pattern, text)) >= count:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"the bot exited ({self.proc.returncode}) before logging {pattern!r}:\n{text}")
            time.sleep(0.05)
        raise AssertionError(f"the bot did not log {pattern!r} within {timeout} s:\n{self.log()[-4000:]}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the bot is still running after {timeout} s:\n{self.log()[-4000:]}") from None

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Read the bot's store while it runs (WAL: readers never block it)."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as db:
            db.row_factory = sqlite3.Row
            return db.execute(sql, args).fetchall()


def backend_ticket(backend, number: str) -> dict:
    return _backend_get(backend, f"/requests/{number}.json")[0]


def backend_tickets(backend) -> list[dict]:
    """Every ticket the backend made in the last days (all of a test's)."""
    return _backend_get(backend, "/requests.json")


def _backend_get(backend, path: str):
    from tests.bot_harness import API_KEY

    answer = httpx.get(backend.base_url + path, params={"api_key": API_KEY}, timeout=5)
    answer.raise_for_status()
    return answer.json()


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="session")
def wechat_model_dir(request) -> Path:
    """The repo's live model when `make model` built one, else one trained for this session."""
    if (ROOT / "models" / "CURRENT").exists():
        return ROOT / "models"
    return request.getfixturevalue("shipped_models")[0]


@pytest.fixture
def gateway(tmp_path):
    gw = Gateway(tmp_path)
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def start_bot(tmp_path, backend, wechat_model_dir):
    """start_bot(endpoint=..., **classifier) -> a running BotProcess, stopped after the test."""
    bots: list[BotProcess] = []

    def start(endpoint: str, token: str = TOKEN, **classifier) -> BotProcess:
        config = write_config(tmp_path / f"config{len(bots)}.yaml", endpoint, backend.base_url, wechat_model_dir,
                              **classifier)
        bot = BotProcess(config, token=token).start()
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        was_running = bot.proc.poll() is None
        code = bot.stop()
        if was_running:  # SIGTERM is how operators stop it: a clean exit, no traceback
            assert code == 0 and "Traceback" not in bot.log(), bot.log()[-4000:]
