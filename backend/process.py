"""Run the backend as a child process on a free loopback port (tests, benchmarks, local runs).

The child is the real thing (`python -m backend`), so whoever uses it talks real HTTP to it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from backend.config import API_KEYS_ENV


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BackendProcess:
    """`with BackendProcess(db_path, api_keys=["k"]) as backend:` then use `backend.base_url`."""

    def __init__(self, db_path: Path | str, *, api_keys: list[str], port: int | None = None,
                 config: Path | str | None = None, startup_timeout: float = 20.0,
                 env: dict[str, str] | None = None):
        self.db_path = Path(db_path)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._api_keys = api_keys
        self._config = config
        self._env = env  # the child's environment (default: this process's); the api keys are added
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None
        self._log = self.db_path.with_suffix(".log")

    def start(self) -> BackendProcess:
        args = [sys.executable, "-m", "backend", "--host", "127.0.0.1", "--port", str(self.port),
                "--db", str(self.db_path)]
        if self._config:
            args += ["--config", str(self._config)]
        env = {**(os.environ if self._env is None else self._env), API_KEYS_ENV: ",".join(self._api_keys)}
        root = Path(__file__).resolve().parent.parent
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log, "ab") as log:
            self._proc = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"backend exited with {self._proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base_url + "/services.json", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"backend did not answer within {self._startup_timeout}s:\n{self.output()}")

    def output(self) -> str:
        """What the backend wrote to stdout and stderr so far."""
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> BackendProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
