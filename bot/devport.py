"""`python -m bot.devport --config config.yaml`: the local backend's port for `make run`, taken
from tracker.base_url (the one place it is written), after checking that nothing holds it.

Prints the port and exits 0 when it is free; otherwise says who holds it (when the system tells:
`ss -ltnp`, or /proc on Linux) and exits 1, so `make run` never starts the bot against whatever
happens to answer there.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot import config as config_module
from bot.config import ConfigError


def holder(port: int) -> str:
    """Who listens on `port`, as far as this machine says ("" when it does not)."""
    try:
        out = subprocess.run(["ss", "-H", "-ltnp", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return " ".join(out.split()[5:]) if out else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.devport", description=__doc__)
    p.add_argument("--config", type=Path, default=Path("config.yaml"))
    args = p.parse_args(argv)
    try:
        settings = config_module.load(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    url = urlsplit(settings.tracker.base_url)
    if url.hostname not in ("127.0.0.1", "localhost"):
        print(f"tracker.base_url is {settings.tracker.base_url}: `make run` starts a local backend only for "
              "a 127.0.0.1 address", file=sys.stderr)
        return 1
    port = url.port or (443 if url.scheme == "https" else 80)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        taken = probe.connect_ex(("127.0.0.1", port)) == 0
    if taken:
        who = holder(port)
        print(f"port {port} (tracker.base_url in {args.config}) is already taken"
              + (f" by {who}" if who else "") + ": stop it, or change tracker.base_url", file=sys.stderr)
        return 1
    print(port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
