"""`python -m backend`: run the reference tracking backend (Open311 GeoReport v2 + ledger), or
manage its staff accounts (`python -m backend user ...`). `serve` is the default command."""

from __future__ import annotations

import argparse
import logging
import sys

from backend import user_command
from backend.config import API_KEYS_ENV, DEFAULTS_PATH, ConfigError, api_keys_from_env, load_config
from backend.sessions import SECRET_ENV, SECRET_FILE

COMMANDS = ("serve", "user")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="Reference tracking backend: Open311 GeoReport v2 (JSON) on SQLite, with the staff "
        "ledger (台账) at /. Without a command, `serve` is meant: python -m backend --db var/backend.db",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the backend (the default command)",
        description=f"Run the backend. Clients that create tickets need an api key listed in ${API_KEYS_ENV}; "
        f"staff log in to the ledger with accounts made by `user add`. Session cookies are signed with "
        f"${SECRET_ENV}, or with a secret kept in {SECRET_FILE} beside the database (made on first start).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8311, help="TCP port to listen on (default 8311)")
    serve.add_argument("--db", required=True, help="SQLite file, created with its directory if missing")
    serve.add_argument("--config", default=None,
                       help=f"settings YAML replacing the defaults ({DEFAULTS_PATH.name}) as a whole")
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request")
    user_command.add_parser(commands)
    return parser.parse_args(argv)


def _without_query(record: logging.LogRecord) -> bool:
    """The access log keeps paths, never query strings: they can carry an api_key or what staff
    searched the ledger for (a resident's name or phone number)."""
    if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
        path = record.args[2]
        if "?" in path:
            record.args = (*record.args[:2], path.split("?", 1)[0] + "?…", *record.args[3:])
    return True


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        api_keys = api_keys_from_env()
        app = create_app(config, args.db, api_keys)
    except ConfigError as exc:
        print(f"backend: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("uvicorn.access").addFilter(_without_query)
    uvicorn.run(app, host=args.host, port=args.port, access_log=args.access_log,
                log_level="info", timeout_graceful_shutdown=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "user":
        return user_command.run(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
