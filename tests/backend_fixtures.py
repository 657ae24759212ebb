"""Fixtures for the tracking backend and its client: real processes on loopback ports.

`tracking_backend` is one `python -m backend` for the whole session; tests keep out of each
other's way with their own group names, message ids and staff accounts. `StandIn` is a tiny HTTP
server that plays a broken backend (503, Retry-After, silence, a dropped connection) for a
scripted number of requests and then forwards to the real one.

Staff: `add_staff()` makes an account in a backend's database (as `python -m backend user add`
does), `log_in()` logs an httpx client in through the login form; `ledger_admin` is an admin
client of the session's backend.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from backend import accounts
from backend.config import DEFAULTS_PATH
from backend.process import BackendProcess
from backend.schema import migrate
from backend.storage import connect
from bot.tracker import RetryPolicy, TrackerClient

__all__ = [
    "API_KEY", "OTHER_API_KEY", "FAST_RETRY", "PASSWORD", "Canned", "StandIn", "unique",
    "tracking_backend", "fresh_tracking_backend", "tracker_client", "ledger_admin", "ledger_admin_account",
    "add_staff", "log_in", "login_token", "backend_config",
]

API_KEY = "test-key-bot"
OTHER_API_KEY = "test-key-staff"
# Fast enough for tests, slow enough that a retry is visible in the timings.
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.05, backoff_max=0.2, max_retry_after=5.0)


def unique(prefix: str) -> str:
    """A name no other test in the session uses (group names, message ids)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def tracking_backend(tmp_path_factory) -> BackendProcess:
    db_path = tmp_path_factory.mktemp("backend") / "backend.db"
    with BackendProcess(db_path, api_keys=[API_KEY, OTHER_API_KEY]) as backend:
        yield backend


@pytest.fixture
def fresh_tracking_backend(tmp_path) -> BackendProcess:
    """A backend on its own empty database, for tests that restart it or count everything."""
    with BackendProcess(tmp_path / "backend.db", api_keys=[API_KEY]) as backend:
        yield backend


@pytest.fixture
async def tracker_client(tracking_backend) -> TrackerClient:
    async with TrackerClient(tracking_backend.base_url, API_KEY, retry=FAST_RETRY) as client:
        yield client


PASSWORD = "correct-horse-battery-42"


def add_staff(backend: BackendProcess, role: str = "grid_manager", groups: list[str] = (),
              password: str = PASSWORD, name: str = "测试员") -> accounts.Staff:
    """A new account with a name no other test uses, in the backend's database."""
    conn = connect(backend.db_path)
    try:
        migrate(conn)
        return accounts.add_user(conn, unique("staff"), name, role, list(groups), password)
    finally:
        conn.close()


def login_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def log_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """Log in through the form as a browser does: fetch the page (its token cookie), then post."""
    form = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": login_token(form.text), "next": "/"})


@pytest.fixture(scope="session")
def ledger_admin_account(tracking_backend) -> accounts.Staff:
    return add_staff(tracking_backend, "admin", name="王主任")


@pytest.fixture
def ledger_admin(tracking_backend, ledger_admin_account) -> httpx.Client:
    """An admin logged in to the session's backend (sees every group)."""
    with httpx.Client(base_url=tracking_backend.base_url) as client:
        assert log_in(client, ledger_admin_account.username).status_code == 303
        yield client


def backend_config(directory: Path, **changes) -> Path:
    """The default backend settings with some keys changed, as a file in `directory`."""
    data = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    data["taxonomy"] = str((DEFAULTS_PATH.parent / data["taxonomy"]).resolve())
    data.update(changes)
    path = directory / "backend-settings.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Canned:
    """One scripted answer. `raw=None` means: read the request, then never answer."""

    raw: bytes | None

    @classmethod
    def status(cls, status: int, reason: str, headers: dict[str, str] | None = None) -> Canned:
        body = b'[{"code":%d,"description":"stand-in says %s"}]' % (status, reason.encode())
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        return cls(head.encode() + body)

    @classmethod
    def silence(cls) -> Canned:
        return cls(None)

    @classmethod
    def hang_up(cls) -> Canned:
        return cls(b"")


@dataclass
class StandIn:
    """Answers the first requests from `script`, then forwards each connection to `upstream_port`."""

    script: list[Canned]
    upstream_port: int | None = None
    arrivals: list[float] = field(default_factory=list)  # monotonic time of every request seen
    server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> StandIn:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.arrivals.append(time.monotonic())
            if self.script:
                await self._answer(self.script.pop(0), reader, writer)
            elif self.upstream_port is not None:
                await self._forward(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _answer(self, canned: Canned, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if canned.raw is None:
            await reader.read()  # until the client gives up and closes
            return
        writer.write(canned.raw)
        await writer.drain()

    async def _forward(self, request: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(request)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            while data := await src.read(65536):
                # Later requests on a kept-alive connection are counted too.
                if count and re.match(rb"(GET|POST) ", data):
                    self.arrivals.append(time.monotonic())
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False),
                             return_exceptions=True)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole request (head and body), so that closing afterwards never resets the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return head + body
