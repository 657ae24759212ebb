"""`python -m backend`: run the reference tracking backend (Open311 GeoReport v2 + ledger)."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from backend.app import create_app
from backend.config import API_KEYS_ENV, DEFAULTS_PATH, ConfigError, api_keys_from_env, load_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="Reference tracking backend: Open311 GeoReport v2 (JSON) on SQLite, with a ledger "
        f"page at /. Clients that create tickets need an api key listed in ${API_KEYS_ENV}.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; the ledger has no login yet)")
    parser.add_argument("--port", type=int, default=8311, help="TCP port to listen on (default 8311)")
    parser.add_argument("--db", required=True, help="SQLite file, created with its directory if missing")
    parser.add_argument("--config", default=None,
                        help=f"settings YAML replacing the defaults ({DEFAULTS_PATH.name}) as a whole")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        api_keys = api_keys_from_env()
    except ConfigError as exc:
        print(f"backend: {exc}", file=sys.stderr)
        return 2
    app = create_app(config, args.db, api_keys)
    uvicorn.run(app, host=args.host, port=args.port, access_log=args.access_log,
                log_level="info", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
