"""`make run` takes the backend's port from config (tracker.base_url) and refuses a taken one."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

from backend.process import free_port

ROOT = Path(__file__).resolve().parents[1]


def run(tmp_path: Path, port: int) -> subprocess.CompletedProcess:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["tracker"]["base_url"] = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "bot.devport", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_a_free_port_is_printed_for_make_run(tmp_path):
    port = free_port()
    done = run(tmp_path, port)
    assert done.returncode == 0 and done.stdout.strip() == str(port)


def test_a_taken_port_stops_make_run_and_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(tmp_path, port)
    assert done.returncode == 1 and f"port {port}" in done.stderr and "already taken" in done.stderr
