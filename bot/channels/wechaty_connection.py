"""One connection to a wechaty puppet service: a fresh SDK object, its gRPC channel and event stream.

The channel (bot/channels/wechaty.py) makes a new `Connection` for every connect and throws the
old one away whole. We drive the SDK's puppet directly instead of `Wechaty.start()`, which swallows
errors, stops the event loop when the service is not up, sleeps a fixed 60 s before its only retry,
and whose event bridge takes the login event once per object (and starts a scheduler and a web
server on login that a bot without plugins does not need). What is kept from the SDK: the gRPC
puppet (`PuppetService`), and the Message, Room and Contact classes that load payloads through it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from urllib.parse import quote

from bot.channels.wechaty_compat import (AsyncIOScheduler, GRPCError, PuppetOptions, Status, Wechaty,
                                         WechatyOptions)

log = logging.getLogger("bot.channels.wechaty")

AT_SEPARATOR = "\u2005"  # what WeChat puts after an @name
_dings = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_unauthenticated(exc: BaseException) -> bool:
    return isinstance(exc, GRPCError) and exc.status == Status.UNAUTHENTICATED


class Connection:
    """From `open()` (logged in) until `ended` is set; `reason` says why it ended."""

    def __init__(self, endpoint: str, token: str, on_message, qr_seen: set[str]):
        # The SDK writes the token into the options it is given, so every connection gets its own.
        # The port is for the SDK's plugin web server, never started here; a free one all the same.
        options = WechatyOptions(name="gridbot", host="127.0.0.1", port=free_port(), token=token,
                                 endpoint=endpoint, puppet_options=PuppetOptions(),
                                 scheduler=AsyncIOScheduler())
        self.sdk = Wechaty(options)
        self.endpoint, self.on_message, self.qr_seen = endpoint, on_message, qr_seen
        self.logged_in = asyncio.Event()
        self.ended = asyncio.Event()
        self.reason = ""
        self.self_id: str | None = None
        self.scanning = False
        self._dong = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    @property
    def puppet(self):
        return self.sdk.puppet

    async def open(self, timeout: float) -> None:
        """Connect and wait for the login; raises what the SDK raised, or TimeoutError.

        While the gateway shows a QR code (scan events) there is no deadline: a person has to act.
        """
        await self.sdk.init_puppet()
        # Room and Contact objects are pooled per class, and the SDK's per-object subclasses share
        # the base class's pool: objects bound to a dead puppet would come back. One pool each.
        for cls in (self.sdk.Contact, self.sdk.ContactSelf, self.sdk.Room):
            cls._pool = {}
        puppet = self.puppet
        for event, handler in (("login", self._on_login), ("logout", self._on_logout), ("scan", self._on_scan),
                               ("message", self._on_message), ("dong", self._on_dong), ("error", self._on_error)):
            puppet.on(event, handler)
        started = asyncio.create_task(puppet.start(), name="wechaty-stream")
        started.add_done_callback(self._stream_ended)
        self._tasks.append(started)
        login = asyncio.create_task(self.logged_in.wait())
        ended = asyncio.create_task(self.ended.wait())
        try:
            waited = 0.0
            while True:
                done, _ = await asyncio.wait({login, ended}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if login in done:
                    return
                if ended in done:
                    if started.done() and not started.cancelled() and started.exception():
                        raise started.exception()
                    raise ConnectionError(self.reason or "the event stream ended before the login")
                waited = 0.0 if self.scanning else waited + 1.0
                if waited >= timeout:
                    raise TimeoutError(f"no login within {timeout:.0f} s")
        finally:
            login.cancel()
            ended.cancel()

    def start_heartbeat(self, interval: float, timeout: float) -> None:
        self._tasks.append(asyncio.create_task(self._heartbeat(interval, timeout), name="wechaty-ding"))

    async def _heartbeat(self, interval: float, timeout: float) -> None:
        """A ding every `interval`; no dong (or any other event) within `timeout` means a dead link."""
        while not self.ended.is_set():
            await asyncio.sleep(interval)
            self._dong.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self.puppet.ding(f"gridbot-{next(_dings)}")
                    await self._dong.wait()
            except TimeoutError:
                self.end(f"no dong within {timeout:g} s of a ding")
            except Exception as exc:  # noqa: BLE001 - any failure of the link ends it
                self.end(f"ding failed: {exc!r}")

    def _stream_ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            self.end("closed")
        elif task.exception() is not None:
            exc = task.exception()
            self.end(f"{type(exc).__name__}: {exc}" if not is_unauthenticated(exc) else "token rejected")
        else:
            self.end("the puppet service ended the event stream (did another client connect with this token?)")

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()

    async def close(self) -> None:
        """Drop the connection without a Stop call: Stop would log the account out on the gateway."""
        self.end("closed")
        for task in self._tasks:
            task.cancel()
        try:
            self.puppet._event_stream.remove_all_listeners()
            if self.puppet.channel is not None:
                self.puppet.channel.close()
        except Exception:  # noqa: BLE001 - a half-built puppet has nothing to close
            pass
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def say_in_room(self, room_id: str, text: str, mention_id: str | None, mention_name: str | None) -> None:
        """Room text that @-mentions one person, as `room.say(text, mention_ids=[id])` sends it.

        The puppet is called directly: after sending, `room.say` loads the sent message back, and a
        failure there would make a delivered reply look undelivered and be sent twice.
        """
        mention_ids = [mention_id] if mention_id else []
        if mention_id:
            name = mention_name or await self.contact_name(mention_id)
            text = f"@{name}{AT_SEPARATOR}{text}"
        await self.puppet.message_send_text(conversation_id=room_id, message=text, mention_ids=mention_ids)

    async def say_privately(self, contact_id: str, text: str) -> None:
        await self.puppet.message_send_text(conversation_id=contact_id, message=text)

    async def contact_name(self, contact_id: str) -> str:
        contact = self.sdk.Contact.load(contact_id)
        await contact.ready()
        return contact.name or contact_id

    async def _on_login(self, payload) -> None:
        self.self_id = payload.contact_id
        self.scanning = False
        try:
            name = await self.contact_name(payload.contact_id)
        except Exception:  # noqa: BLE001 - the name is only for the log line
            name = "?"
        log.info("WeChat account %s (%s) logged in at the puppet service", name, payload.contact_id)
        self.logged_in.set()

    async def _on_logout(self, payload) -> None:
        self.logged_in.clear()
        log.warning("WeChat account %s logged out at the puppet service (%s); replies wait until it logs in "
                    "again", payload.contact_id, payload.data or "no reason given")

    async def _on_scan(self, payload) -> None:
        self.scanning = True
        code = payload.qrcode or ""
        if code and code not in self.qr_seen:
            self.qr_seen.add(code)
            log.warning("WeChat login needed: scan https://wechaty.js.org/qrcode/%s with the bot's phone",
                        quote(code, safe=""))
        elif not code:
            log.info("WeChat login: %s", payload.status.name.lower())

    def _on_dong(self, payload) -> None:
        self._dong.set()

    def _on_error(self, payload) -> None:
        if isinstance(payload, BaseException):
            log.error("wechaty event handler failed", exc_info=payload)
        elif payload:
            log.warning("the puppet service reported an error: %s", getattr(payload, "data", payload))

    def _on_message(self, payload) -> None:
        # Synchronous on purpose: the channel queues message ids in the order the stream delivers
        # them (the SDK would run one concurrent task per message) and loads them one by one.
        self._dong.set()  # any event is proof that the stream is alive
        self.on_message(self, payload.message_id)

    async def load(self, message_id: str):
        """The SDK's Message with its talker and room payloads loaded."""
        msg = self.sdk.Message.load(message_id)
        await msg.ready()
        return msg
