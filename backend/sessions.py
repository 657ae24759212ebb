"""Staff sessions: the signing secret, session rows, CSRF tokens and the failed-login throttle.

A session is a row in the database; the cookie holds its random id, signed with the secret (so a
guessed or altered cookie is refused before any lookup) and the table holds only the id's hash.
Logging out deletes the row, so a copied cookie dies with it. A session ends when it has been idle
for `session_idle_minutes` or has lasted `session_max_hours`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, Signer

from backend import accounts, clock
from backend.accounts import Staff
from backend.config import ConfigError, StaffSettings
from backend.storage import transaction

SECRET_ENV = "GRIDBOT_SESSION_SECRET"
SECRET_FILE = "session-secret.key"
SESSION_COOKIE = "gridbot_session"
LOGIN_COOKIE = "gridbot_login"  # the login form's own CSRF token (double submit): no session yet
US_PER_MINUTE = 60_000_000


def load_secret(db_path: Path | str, environ: dict[str, str] | None = None) -> str:
    """The signing secret: $GRIDBOT_SESSION_SECRET, else a file beside the database made on first use."""
    value = (environ if environ is not None else os.environ).get(SECRET_ENV, "").strip()
    if value:
        if len(value) < 32:
            raise ConfigError(f"environment variable {SECRET_ENV}: needs at least 32 characters")
        return value
    path = Path(db_path).resolve().parent / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once both end up reading the one file that won.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
    value = path.read_text().strip()
    if len(value) < 32:
        raise ConfigError(f"{path}: the session secret is shorter than 32 characters; delete the file "
                          "to have a new one made (everyone will have to log in again)")
    return value


class CookieSigner:
    """Signs the random values that cookies carry; unsigning refuses anything it did not sign."""

    def __init__(self, secret: str):
        self._signer = Signer(secret, salt="gridbot-ledger-session")

    def sign(self, value: str) -> str:
        return self._signer.sign(value).decode()

    def unsign(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return self._signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class Session:
    staff: Staff
    id_hash: str
    csrf_token: str
    created_us: int
    seen_us: int

    def expired(self, now_us: int, settings: StaffSettings) -> bool:
        idle = now_us - self.seen_us > settings.session_idle_minutes * US_PER_MINUTE
        too_old = now_us - self.created_us > settings.session_max_hours * 60 * US_PER_MINUTE
        return idle or too_old

    def due_for_touch(self, now_us: int, settings: StaffSettings) -> bool:
        """Recording every request would be a write per page; a quarter of the idle time is enough."""
        step = min(60 * 1_000_000, settings.session_idle_minutes * US_PER_MINUTE / 4)
        return now_us - self.seen_us > step

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.csrf_token.encode())


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(conn: sqlite3.Connection, staff_id: int, settings: StaffSettings) -> str:
    """A new session for the account; returns its id (for the cookie). Old sessions are purged here."""
    session_id = secrets.token_urlsafe(32)
    now = clock.now_us()
    with transaction(conn):
        conn.execute(
            "DELETE FROM sessions WHERE seen_us < ? OR created_us < ?",
            (now - int(settings.session_idle_minutes * US_PER_MINUTE),
             now - int(settings.session_max_hours * 60 * US_PER_MINUTE)),
        )
        conn.execute(
            "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_us, seen_us) VALUES (?, ?, ?, ?, ?)",
            (hash_id(session_id), staff_id, secrets.token_urlsafe(32), now, now),
        )
    return session_id


def find(conn: sqlite3.Connection, id_hash: str) -> Session | None:
    row = conn.execute(
        "SELECT s.staff_id, s.csrf_token, s.created_us, s.seen_us FROM sessions s"
        " JOIN staff ON staff.id = s.staff_id WHERE s.id_hash = ? AND staff.disabled = 0",
        (id_hash,),
    ).fetchone()
    if row is None:
        return None
    staff = accounts.staff_by_id(conn, row["staff_id"])
    return Session(staff, id_hash, row["csrf_token"], row["created_us"], row["seen_us"])


def touch(conn: sqlite3.Connection, id_hash: str) -> None:
    with transaction(conn):
        conn.execute("UPDATE sessions SET seen_us = max(seen_us, ?) WHERE id_hash = ?", (clock.now_us(), id_hash))


def end(conn: sqlite3.Connection, id_hash: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))


class LoginThrottle:
    """Counts failed logins per account name and per client address over a sliding window.

    Kept in memory: a restart forgets the counts, which only gives a patient guesser one more
    window; the argon2 hash makes every guess slow in any case.
    """

    def __init__(self, settings: StaffSettings, clock_fn=time.monotonic):
        self._window = settings.login_window_minutes * 60
        self._limits = {"account": settings.login_max_failures,
                        "address": settings.login_max_failures_per_address}
        self._clock = clock_fn
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def blocked(self, username: str, address: str) -> bool:
        return any(self._count(key) >= self._limits[key[0]] for key in self._keys(username, address))

    def failed(self, username: str, address: str) -> None:
        if len(self._failures) > 10_000:
            # A stream of made-up names must not grow the table for ever: drop the quiet ones.
            for key in list(self._failures):
                self._count(key)
        for key in self._keys(username, address):
            self._failures.setdefault(key, deque()).append(self._clock())

    def begin(self, username: str, address: str) -> bool:
        """Check and count an attempt in one step (no await in between): False when blocked. The
        attempt counts as a failure until it succeeds, so forty guesses sent at once meet the limit
        as forty sent one after another would."""
        if self.blocked(username, address):
            return False
        self.failed(username, address)
        return True

    def succeeded(self, username: str, address: str | None = None) -> None:
        self._failures.pop(("account", username.strip().lower()), None)
        times = self._failures.get(("address", address)) if address is not None else None
        if times:
            times.pop()  # the attempt begin() counted was not a failure after all

    @property
    def window_minutes(self) -> int:
        return max(1, round(self._window / 60))

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("account", username.strip().lower()), ("address", address)]

    def _count(self, key: tuple[str, str]) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        cutoff = self._clock() - self._window
        while times and times[0] < cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
        return len(times)
