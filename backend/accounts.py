"""Staff accounts of the ledger: grid managers and admins, their groups, their password hashes.

Functions of a sqlite3 connection, so that the CLI (its own connection) and the server (its writer
and reader threads) share them. Passwords are hashed with argon2id (argon2-cffi's defaults) and
never stored, printed or logged in clear.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend import clock
from backend.storage import transaction

ROLES = {"admin": "管理员", "grid_manager": "网格员"}
MIN_PASSWORD = 10
MAX_PASSWORD = 256
MAX_GROUP = 200  # as long as a ticket's attribute[group] may be
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,31}")

_hasher = PasswordHasher()


class AccountError(ValueError):
    """An account change that cannot be made; the message says why (for the CLI's user)."""


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    display_name: str
    role: str
    groups: tuple[str, ...]
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def scope(self) -> list[str] | None:
        """The groups whose tickets this person may see and change; None means all of them."""
        return None if self.is_admin else list(self.groups)

    @property
    def label(self) -> str:
        """How the audit trail names this person: display name and account, e.g. 李明（liming）."""
        return f"{self.display_name}（{self.username}）"


def hash_password(username: str, password: str) -> str:
    check_password(username, password)
    return _hasher.hash(password)


def check_password(username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password may have at most {MAX_PASSWORD} characters")
    if password.strip().lower() == username.lower():
        raise AccountError("the password must not be the account name")


def verify_password(password_hash: str, password: str) -> bool:
    """Slow on purpose (argon2): callers run it off the event loop and off the writer thread."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_absent(password: str) -> bool:
    """For a name that is no account: as slow as a wrong password, so timing does not tell names."""
    verify_password(_absent_hash(), password)
    return False


@functools.cache
def _absent_hash() -> str:
    return _hasher.hash("no account has this password")


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def add_user(conn: sqlite3.Connection, username: str, display_name: str, role: str,
             groups: list[str], password: str) -> Staff:
    username, display_name, groups = _check_account(username, display_name, role, groups)
    password_hash = hash_password(username, password)
    now = clock.now_us()
    with transaction(conn):
        if _row(conn, username) is not None:
            raise AccountError(f"there is already an account named {username!r}")
        cursor = conn.execute(
            "INSERT INTO staff (username, display_name, role, password_hash, created_us, updated_us)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (username, display_name, role, password_hash, now, now),
        )
        _write_groups(conn, cursor.lastrowid, groups)
    return get_user(conn, username)


def list_users(conn: sqlite3.Connection) -> list[Staff]:
    rows = conn.execute("SELECT * FROM staff ORDER BY role, username").fetchall()
    return [_staff(conn, row) for row in rows]


def get_user(conn: sqlite3.Connection, username: str) -> Staff:
    row = _row(conn, username)
    if row is None:
        raise AccountError(f"no account named {username!r} (see: python -m backend user list)")
    return _staff(conn, row)


def set_disabled(conn: sqlite3.Connection, username: str, disabled: bool) -> Staff:
    """Disabling also ends every session of the account at once."""
    staff = get_user(conn, username)
    with transaction(conn):
        conn.execute("UPDATE staff SET disabled = ?, updated_us = ? WHERE id = ?",
                     (int(disabled), clock.now_us(), staff.id))
        if disabled:
            conn.execute("DELETE FROM sessions WHERE staff_id = ?", (staff.id,))
    return get_user(conn, username)


def reset_password(conn: sqlite3.Connection, username: str, password: str) -> Staff:
    """A new password; whoever was logged in with the old one is logged out."""
    staff = get_user(conn, username)
    password_hash = hash_password(staff.username, password)
    with transaction(conn):
        conn.execute("UPDATE staff SET password_hash = ?, updated_us = ? WHERE id = ?",
                     (password_hash, clock.now_us(), staff.id))
        conn.execute("DELETE FROM sessions WHERE staff_id = ?", (staff.id,))
    return staff


def set_groups(conn: sqlite3.Connection, username: str, groups: list[str]) -> Staff:
    staff = get_user(conn, username)
    _, _, groups = _check_account(staff.username, staff.display_name, staff.role, groups)
    with transaction(conn):
        conn.execute("DELETE FROM staff_groups WHERE staff_id = ?", (staff.id,))
        _write_groups(conn, staff.id, groups)
        conn.execute("UPDATE staff SET updated_us = ? WHERE id = ?", (clock.now_us(), staff.id))
    return get_user(conn, username)


def login_record(conn: sqlite3.Connection, username: str) -> tuple[Staff, str] | None:
    """The active account and its password hash, for the login form to verify; None if there is none."""
    row = _row(conn, username.strip())
    if row is None or row["disabled"]:
        return None
    return _staff(conn, row), row["password_hash"]


def store_rehash(conn: sqlite3.Connection, staff_id: int, password_hash: str) -> None:
    """A hash made with stronger parameters than the stored one, after a successful login."""
    with transaction(conn):
        conn.execute("UPDATE staff SET password_hash = ? WHERE id = ?", (password_hash, staff_id))


def rehash(password: str) -> str:
    return _hasher.hash(password)


def staff_by_id(conn: sqlite3.Connection, staff_id: int) -> Staff | None:
    row = conn.execute("SELECT * FROM staff WHERE id = ?", (staff_id,)).fetchone()
    return None if row is None else _staff(conn, row)


def _check_account(username: str, display_name: str, role: str,
                   groups: list[str]) -> tuple[str, str, list[str]]:
    username, display_name = username.strip(), display_name.strip()
    if not USERNAME.fullmatch(username):
        raise AccountError("the account name needs 2 to 32 letters, digits, '_', '.' or '-' "
                           "(starting with a letter or digit)")
    if not 1 <= len(display_name) <= 40:
        raise AccountError("the display name needs 1 to 40 characters")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    groups = list(dict.fromkeys(g.strip() for g in groups if g.strip()))
    if role == "admin" and groups:
        raise AccountError("admins see every group; --group is for grid managers")
    if role == "grid_manager" and not groups:
        raise AccountError("a grid manager needs at least one --group (the WeChat group's name)")
    too_long = [g for g in groups if len(g) > MAX_GROUP]
    if too_long:
        raise AccountError(f"a group name may have at most {MAX_GROUP} characters")
    return username, display_name, groups


def _row(conn: sqlite3.Connection, username: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM staff WHERE username = ?", (username.strip(),)).fetchone()


def _staff(conn: sqlite3.Connection, row: sqlite3.Row) -> Staff:
    groups = tuple(r[0] for r in conn.execute(
        "SELECT group_name FROM staff_groups WHERE staff_id = ? ORDER BY group_name", (row["id"],)))
    return Staff(row["id"], row["username"], row["display_name"], row["role"], groups, bool(row["disabled"]))


def _write_groups(conn: sqlite3.Connection, staff_id: int, groups: list[str]) -> None:
    conn.executemany("INSERT INTO staff_groups (staff_id, group_name) VALUES (?, ?)",
                     [(staff_id, group) for group in groups])
