"""Staff accounts from the command line (`python -m backend user ...`): what an administrator types,
what they see, and what ends up in the database file (a password hash, never the password)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from backend.process import BackendProcess
from backend.sessions import SECRET_ENV, SECRET_FILE
from tests.backend_fixtures import API_KEY, log_in

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Kx7-long-enough-secret"


def backend_cli(*args: str, password: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        input=None if password is None else password + "\n", env={**os.environ, **(env or {})},
    )


def add(db: Path, username: str, *options: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    return backend_cli("user", "add", username, "--db", str(db), *options, "--password-stdin", password=password)


def test_an_admin_creates_lists_disables_and_enables_accounts(tmp_path):
    db = tmp_path / "backend.db"
    made = add(db, "liming", "--name", "李明", "--role", "grid_manager",
               "--group", "景湖名都业主群", "--group", "彭家场村村民群")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("added liming\t李明\tgrid_manager\tactive")
    assert add(db, "wang", "--name", "王主任", "--role", "admin").returncode == 0
    listed = backend_cli("user", "list", "--db", str(db)).stdout.splitlines()
    assert listed == ["wang\t王主任\tadmin\tactive\t(all groups)",
                      "liming\t李明\tgrid_manager\tactive\t彭家场村村民群, 景湖名都业主群"]
    assert backend_cli("user", "disable", "liming", "--db", str(db)).returncode == 0
    assert "liming\t李明\tgrid_manager\tdisabled" in backend_cli("user", "list", "--db", str(db)).stdout
    assert backend_cli("user", "enable", "liming", "--db", str(db)).returncode == 0
    regrouped = backend_cli("user", "set-groups", "liming", "--db", str(db), "--group", "新群")
    assert regrouped.returncode == 0 and regrouped.stdout.rstrip().endswith("\t新群")


@pytest.mark.parametrize("options, password, words", [
    (("--name", "李明", "--role", "grid_manager"), PASSWORD, "needs at least one --group"),
    (("--name", "王", "--role", "admin", "--group", "g"), PASSWORD, "admins see every group"),
    (("--name", "李明", "--role", "admin"), "short", "at least 10 characters"),
    (("--name", "李明", "--role", "admin"), "liming", "at least 10 characters"),
    (("--name", "", "--role", "admin"), PASSWORD, "display name needs 1 to 40"),
])
def test_a_bad_account_is_refused_with_the_reason(tmp_path, options, password, words):
    result = add(tmp_path / "backend.db", "liming", *options, password=password)
    assert result.returncode == 1
    assert words in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_the_same_name_twice_and_unknown_names_are_refused(tmp_path):
    db = tmp_path / "backend.db"
    assert add(db, "liming", "--name", "李明", "--role", "admin").returncode == 0
    again = add(db, "LiMing", "--name", "李明", "--role", "admin")
    assert again.returncode == 1 and "already an account named 'LiMing'" in again.stderr
    unknown = backend_cli("user", "disable", "nobody", "--db", str(db))
    assert unknown.returncode == 1 and "no account named 'nobody'" in unknown.stderr
    mistyped = backend_cli("user", "list", "--db", str(tmp_path / "bakend.db"))
    assert mistyped.returncode == 1 and "no database at" in mistyped.stderr
    assert not (tmp_path / "bakend.db").exists()


def test_a_password_is_never_taken_from_the_command_line(tmp_path):
    db = str(tmp_path / "backend.db")
    on_the_line = backend_cli("user", "add", "liming", "--db", db, "--name", "李明", "--role", "admin",
                              "--password", PASSWORD)
    assert on_the_line.returncode == 2 and "unrecognized arguments" in on_the_line.stderr
    no_terminal = backend_cli("user", "add", "liming", "--db", db, "--name", "李明", "--role", "admin")
    assert no_terminal.returncode == 1 and "--password-stdin" in no_terminal.stderr


def test_the_database_holds_an_argon2_hash_and_never_the_password(tmp_path):
    db = tmp_path / "backend.db"
    assert add(db, "liming", "--name", "李明", "--role", "admin").returncode == 0
    with sqlite3.connect(db) as conn:
        [(stored,)] = conn.execute("SELECT password_hash FROM staff").fetchall()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert stored.startswith("$argon2id$")
    for path in tmp_path.glob("backend.db*"):
        content = path.read_bytes()
        assert PASSWORD.encode() not in content and PASSWORD.encode("utf-16-le") not in content


def test_reset_password_changes_the_login_and_ends_open_sessions(tmp_path):
    db = tmp_path / "backend.db"
    assert add(db, "liming", "--name", "李明", "--role", "admin").returncode == 0
    with BackendProcess(db, api_keys=[API_KEY]) as backend, httpx.Client(base_url=backend.base_url) as browser:
        assert log_in(browser, "liming", PASSWORD).status_code == 303
        assert browser.get("/").status_code == 200
        reset = backend_cli("user", "reset-password", "liming", "--db", str(db), "--password-stdin",
                            password="a-brand-new-passphrase")
        assert reset.returncode == 0 and "their sessions have ended" in reset.stdout
        assert browser.get("/").status_code == 303
        assert log_in(browser, "liming", PASSWORD).status_code == 401
        assert log_in(browser, "liming", "a-brand-new-passphrase").status_code == 303
        assert "a-brand-new-passphrase" not in backend.output() and PASSWORD not in backend.output()


def test_the_session_secret_is_made_beside_the_database_readable_by_its_owner_only(tmp_path):
    db = tmp_path / "data" / "backend.db"
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    with BackendProcess(db, api_keys=[API_KEY], env=env):
        secret = db.parent / SECRET_FILE
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert len(secret.read_text().strip()) >= 32


def test_a_session_secret_from_the_environment_is_used_instead_of_a_file(tmp_path):
    db = tmp_path / "backend.db"
    with BackendProcess(db, api_keys=[API_KEY], env={**os.environ, SECRET_ENV: "s" * 40}):
        assert not (tmp_path / SECRET_FILE).exists()
    too_short = BackendProcess(db, api_keys=[API_KEY], env={**os.environ, SECRET_ENV: "short"},
                               startup_timeout=10)
    with pytest.raises(RuntimeError, match=f"{SECRET_ENV}: needs at least 32 characters"):
        too_short.start()


def test_serve_is_the_default_command_and_both_forms_explain_themselves():
    assert "run the backend (the default command)" in backend_cli("--help").stdout
    assert "--port" in backend_cli("serve", "--help").stdout
    for action in ("add", "list", "disable", "enable", "reset-password", "set-groups"):
        assert action in backend_cli("user", "--help").stdout
