"""`python -m backend user ...`: manage the ledger's staff accounts in the backend's database.

Passwords are read from a prompt (asked twice) or, for scripts, from standard input with
--password-stdin; never from the command line, where other users of the machine and the shell
history would see them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from backend import accounts
from backend.accounts import AccountError, Staff
from backend.schema import migrate
from backend.storage import connect


def add_parser(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="manage staff accounts (grid managers and admins)",
                               description="Manage the ledger's staff accounts.")
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", required=True, help="the backend's SQLite file (the one `serve --db` uses)")
    stdin = argparse.ArgumentParser(add_help=False)
    stdin.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input instead of a prompt")

    add = actions.add_parser("add", parents=[db, stdin], help="create an account; asks for its password")
    add.add_argument("username", help="login name: 2-32 letters, digits, '_', '.' or '-'")
    add.add_argument("--name", required=True, help="display name shown in the ledger and its history, e.g. 李明")
    add.add_argument("--role", required=True, choices=list(accounts.ROLES),
                     help="grid_manager: sees and changes the tickets of their groups; admin: all tickets")
    add.add_argument("--group", action="append", default=[], metavar="GROUP",
                     help="a WeChat group (room name) a grid manager is responsible for; repeat for more")

    actions.add_parser("list", parents=[db], help="list accounts, their roles and groups")
    for name, help_text in (("disable", "stop an account from logging in and end its sessions"),
                            ("enable", "let a disabled account log in again")):
        action = actions.add_parser(name, parents=[db], help=help_text)
        action.add_argument("username")
    reset = actions.add_parser("reset-password", parents=[db, stdin],
                               help="set a new password; ends the account's sessions")
    reset.add_argument("username")
    groups = actions.add_parser("set-groups", parents=[db], help="replace a grid manager's groups")
    groups.add_argument("username")
    groups.add_argument("--group", action="append", default=[], required=True, metavar="GROUP",
                        help="a WeChat group the grid manager is responsible for; repeat for more")


def run(args: argparse.Namespace) -> int:
    path = Path(args.db)
    if args.action != "add" and not path.exists():
        # A mistyped path must not quietly become a new, empty database.
        print(f"backend user {args.action}: no database at {path}", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        migrate(conn)
        return _run(conn, args)
    except AccountError as exc:
        print(f"backend user {args.action}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()


def _run(conn, args: argparse.Namespace) -> int:
    if args.action == "add":
        password = read_password(args.password_stdin)
        staff = accounts.add_user(conn, args.username, args.name, args.role, args.group, password)
        print(f"added {describe(staff)}")
    elif args.action == "list":
        users = accounts.list_users(conn)
        for staff in users:
            print(describe(staff))
        if not users:
            print("no accounts yet: python -m backend user add NAME --db ... --name ... --role admin")
    elif args.action in ("disable", "enable"):
        staff = accounts.set_disabled(conn, args.username, args.action == "disable")
        print(f"{args.action}d {describe(staff)}")
    elif args.action == "reset-password":
        accounts.get_user(conn, args.username)  # a typo in the name is reported before the prompt
        staff = accounts.reset_password(conn, args.username, read_password(args.password_stdin))
        print(f"new password set for {staff.username}; their sessions have ended")
    elif args.action == "set-groups":
        print(f"updated {describe(accounts.set_groups(conn, args.username, args.group))}")
    return 0


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        return password[:-1] if password.endswith("\r") else password
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask for the password on: pipe it in with --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ; nothing was changed")
    return first


def describe(staff: Staff) -> str:
    state = "disabled" if staff.disabled else "active"
    groups = ", ".join(staff.groups) if staff.groups else "(all groups)"
    return f"{staff.username}\t{staff.display_name}\t{staff.role}\t{state}\t{groups}"

