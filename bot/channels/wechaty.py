"""WeChat groups through a wechaty puppet service: room messages in, @-replies out, the link supervised.

    channel: wechaty
    wechaty:
      endpoint: 127.0.0.1:8788                  # host:port of the puppet service, always explicit
      token_env: WECHATY_PUPPET_SERVICE_TOKEN   # the variable that holds the token

Text, image, voice, file, link and mini-program messages from the rooms whose topic is a configured
group become `IncomingMessage`s, as do private messages to the bot (the command router answers
them); the bot's own messages and other rooms are dropped here. Messages go to intake one at a
time, in the order the gateway delivered them.

Supervision (the bare SDK waits a fixed 60 s, retries once and then gives up silently): a connection
is dead when its event stream ends or a `ding` gets no answer in time; the channel then builds a new
one (a fresh SDK object) with a short capped backoff, forever, while the rest of the bot (outbox,
status poller, reply queue) keeps working. A rejected token is a ConfigError that stops the bot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from dataclasses import dataclass

from bot.channels import ChannelError, OnMessage
from bot.channels.wechaty_compat import GRPCError, StreamTerminatedError, WechatyPuppetError, redact
from bot.channels.wechaty_connection import Connection, is_unauthenticated
from bot.channels.wechaty_messages import to_incoming, with_media_url
from bot.config import ConfigError
from bot.messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

TOKEN_KEY = "wechaty.token_env"
LINK_ERRORS = (GRPCError, StreamTerminatedError, WechatyPuppetError, OSError, TimeoutError, ConnectionError)


@dataclass(frozen=True)
class Timing:
    """How the link is watched and rebuilt (seconds)."""

    ding_interval: float = 15.0   # a ding this often...
    ding_timeout: float = 5.0     # ...must be answered within this
    connect_timeout: float = 15.0  # connect to login, unless a QR code waits to be scanned
    retry_first: float = 0.25     # backoff between connects: doubles from here...
    retry_max: float = 2.0        # ...up to this, so a returning gateway is found within ~2 s
    send_wait: float = 30.0       # a reply waits this long for a logged-in connection, then ChannelError
    send_timeout: float = 10.0


class WechatyChannel:
    def __init__(self, settings, timing: Timing = Timing()):
        if settings.wechaty is None or not settings.wechaty.endpoint:
            # Without an endpoint the SDK would look the token up on the internet: never.
            raise ConfigError("wechaty.endpoint", "is missing: give host:port of the puppet service")
        self.endpoint = settings.wechaty.endpoint
        self.token = settings.wechaty.token()
        self.token_env = settings.wechaty.token_env
        redact(self.token)
        self.topics = {g.name for g in settings.groups}
        self.timing = timing
        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._queue: asyncio.Queue[tuple[Connection, str]] = asyncio.Queue()
        self._done = asyncio.Event()
        self._running = False
        self._fatal: BaseException | None = None
        self._qr_seen: set[str] = set()
        self._trouble_since: float | None = None
        self._told: tuple[str, float] = ("", 0.0)
        self.connects = 0  # how many times a connection reached login (for tests and benchmarks)
        self._down_since: float | None = time.monotonic()  # not connected yet counts as down

    async def run(self, on_message: OnMessage) -> None:
        self._running = True
        consumer = asyncio.create_task(self._consume(on_message), name="wechaty-intake")
        try:
            await self._supervise()
            if self._fatal is not None:
                raise self._fatal
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            self._done.set()

    async def stop(self) -> None:
        self._stopping.set()
        if self._running:
            try:
                await asyncio.wait_for(self._done.wait(), 15)
            except TimeoutError:
                log.warning("the WeChat channel did not stop within 15 s")

    async def send(self, reply: Reply) -> None:
        conn = await self._logged_in_connection()
        try:
            async with asyncio.timeout(self.timing.send_timeout):
                if reply.group_id:
                    await conn.say_in_room(reply.group_id, reply.text, reply.to_id, reply.to_name)
                elif reply.to_id:
                    await conn.say_privately(reply.to_id, reply.text)
                else:
                    log.error("reply to %s has neither a room nor a person; dropped: %s", reply.in_reply_to, reply.text)
        except LINK_ERRORS as exc:
            raise ChannelError(f"the puppet service did not take the reply: {exc!r}") from exc

    def link_down_since(self) -> float | None:
        """Since when (time.monotonic()) no WeChat connection is up; None while one is (the health alarm)."""
        return self._down_since

    async def _logged_in_connection(self) -> Connection:
        """The live connection, waited for a little (not while stopping); else ChannelError."""
        deadline = time.monotonic() + (0 if self._stopping.is_set() else self.timing.send_wait)
        while True:
            conn = self._conn
            if conn is not None and conn.logged_in.is_set() and not conn.ended.is_set():
                return conn
            if time.monotonic() >= deadline or self._stopping.is_set():
                state = "the WeChat account is logged out" if conn is not None else "not connected"
                raise ChannelError(f"{state} at the puppet service {self.endpoint}")
            await asyncio.sleep(0.05)

    async def _supervise(self) -> None:
        attempt, lost_at = 0, None
        while not self._stopping.is_set() and self._fatal is None:
            conn, problem = None, await self._probe()
            if problem is None:
                conn = Connection(self.endpoint, self.token, self._take, self._qr_seen)
                problem = await self._connect(conn)
            if problem is not None:
                if conn is not None:
                    await conn.close()
                if self._stopping.is_set():
                    break
                self._trouble(problem)
                await self._pause(attempt)
                attempt += 1
                continue
            self._on_connected(conn, lost_at)
            attempt = 0
            await self._until_stopped(conn.ended.wait())
            if self._stopping.is_set() and self._fatal is None:
                await self._drain()  # messages already taken from WeChat reach intake first
            self._conn = None
            self._connected.clear()
            self._down_since = time.monotonic()
            await conn.close()
            if conn.reason == "token rejected":
                raise ConfigError(TOKEN_KEY, f"the puppet service at {self.endpoint} stopped accepting "
                                  f"the token in ${self.token_env}")
            if not self._stopping.is_set() and self._fatal is None:
                lost_at = time.monotonic()
                log.warning("lost the puppet service at %s: %s; reconnecting (WeChat messages sent while no "
                            "client is connected are not delivered later)", self.endpoint, conn.reason)

    async def _connect(self, conn: Connection) -> str | None:
        """None once logged in, else what went wrong; a rejected token is a ConfigError."""
        try:
            if not await self._until_stopped(conn.open(self.timing.connect_timeout)):
                return "stopped"
            return None
        except Exception as exc:  # noqa: BLE001 - every failure to connect is retried, but one
            if is_unauthenticated(exc):
                raise ConfigError(TOKEN_KEY, f"the puppet service at {self.endpoint} rejected the "
                                  f"token in ${self.token_env} (gRPC UNAUTHENTICATED)") from None
            hint = ""
            if isinstance(exc, StreamTerminatedError):  # TCP was fine: HTTP/2 itself failed
                hint = " (a gateway with TLS on does this: it needs WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true)"
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return f"could not connect to the puppet service at {self.endpoint}: {what}{hint}"

    def _trouble(self, problem: str) -> None:
        """Log a connect problem when it is new, and again once a minute while it lasts."""
        now = time.monotonic()
        if self._trouble_since is None:
            self._trouble_since = now
        if problem != self._told[0] or now - self._told[1] >= 60:
            since = now - self._trouble_since
            log.warning("%s; trying again every %g s at most%s", problem, self.timing.retry_max,
                        f" (no connection for {since:.0f} s)" if since >= 1 else "")
            self._told = (problem, now)

    def _on_connected(self, conn: Connection, lost_at: float | None) -> None:
        conn.start_heartbeat(self.timing.ding_interval, self.timing.ding_timeout)
        self._conn = conn
        self._connected.set()
        self._down_since = None
        self.connects += 1
        since = lost_at or self._trouble_since
        gap = f" after {time.monotonic() - since:.1f} s without it" if since else ""
        log.info("connected to the puppet service at %s%s", self.endpoint, gap)
        self._trouble_since, self._told = None, ("", 0.0)

    async def _until_stopped(self, work) -> bool:
        """Run `work` unless the channel stops first (then cancel it and return False)."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            return False
        task.result()  # raises what the work raised
        return True

    async def _drain(self) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), 10)
        except TimeoutError:
            log.warning("%d WeChat messages were not handed to intake before stopping", self._queue.qsize())

    async def _probe(self) -> str | None:
        """None when the endpoint takes a TCP connection, else why not (without blocking the loop)."""
        host, _, port = self.endpoint.rpartition(":")
        try:
            async with asyncio.timeout(3):
                _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            return None
        except TimeoutError:
            why = "no answer within 3 s"
        except socket.gaierror as exc:
            why = f"cannot resolve {host}: {exc.strerror}"
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        return f"waiting for the puppet service at {self.endpoint} ({why})"

    async def _pause(self, attempt: int) -> None:
        t = self.timing
        delay = min(t.retry_max, t.retry_first * 2 ** attempt) * random.uniform(0.8, 1.0)
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            pass

    def _take(self, conn: Connection, message_id: str) -> None:
        self._queue.put_nowait((conn, message_id))

    async def _consume(self, on_message: OnMessage) -> None:
        while True:
            conn, message_id = await self._queue.get()
            try:
                incoming = await self._read(conn, message_id)
                if incoming is not None:
                    await on_message(incoming)
            except Exception as exc:  # noqa: BLE001 - intake let it through: the bot must stop
                self._fatal = exc
                self._stopping.set()
                return
            finally:
                self._queue.task_done()

    async def _load(self, conn: Connection, message_id: str):
        """Load through the connection that saw the event; if that one died meanwhile, the next one."""
        try:
            async with asyncio.timeout(self.timing.send_timeout):
                return await conn.load(message_id)
        except LINK_ERRORS:
            if not conn.ended.is_set():
                raise
        async with asyncio.timeout(self.timing.connect_timeout * 2):
            await self._connected.wait()
            return await self._conn.load(message_id)

    async def _read(self, conn: Connection, message_id: str) -> IncomingMessage | None:
        try:
            msg = await self._load(conn, message_id)
            incoming = to_incoming(msg, conn.self_id, self.topics)
            if incoming is not None and incoming.kind == "image":
                incoming = await with_media_url(conn.puppet, msg, incoming)
            return incoming
        except Exception as exc:  # noqa: BLE001 - one unreadable message must not stop the others
            log.warning("could not read WeChat message %s from the puppet service (%r); it is lost",
                        message_id, exc)
            return None

