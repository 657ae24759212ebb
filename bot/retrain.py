"""Retraining from the chat: the classifier CLI in a child process, so the bot keeps answering.

`python -m classifier train --with-feedback STORE` trains on the shipped corpus plus the grid
managers' decisions, evaluates on the fixed split and promotes only if not worse; the live model
then reloads itself from models/CURRENT.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Awaitable, Callable

from classifier import registry

log = logging.getLogger(__name__)


class Retrainer:
    def __init__(self, model_dir: Path, store_path: Path, live_model=None, timeout: float = 900):
        self.model_dir, self.store_path = Path(model_dir), Path(store_path)
        self.live_model, self.timeout = live_model, timeout
        self.task: asyncio.Task | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, report: Callable[[dict], Awaitable[None]]) -> bool:
        """Begin a run in the background; False when one is already running."""
        if self.busy:
            return False
        self.task = asyncio.create_task(self._run(report))
        return True

    async def _run(self, report) -> None:
        before = registry.current_version(self.model_dir)
        versions_before = {row["version"] for row in registry.versions(self.model_dir)}
        cmd = [sys.executable, "-m", "classifier", "train", "--out", str(self.model_dir),
               "--with-feedback", str(self.store_path), "--promote", "auto"]
        try:
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            try:
                out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
            except asyncio.TimeoutError:
                # A run past its time must not promote later behind the admin's back: kill it.
                proc.kill()
                await proc.wait()
                raise RuntimeError(f"training took longer than {self.timeout:.0f} s and was stopped") from None
            if proc.returncode != 0:
                raise RuntimeError(err.decode(errors="replace").strip().splitlines()[-1:] or ["exit code "
                                   f"{proc.returncode}"])
            new = [row for row in registry.versions(self.model_dir)
                   if row["version"] not in versions_before and "card" in row]
            if not new:
                raise RuntimeError("training produced no new version")
            card = new[-1]["card"]
            after = registry.current_version(self.model_dir)
            verdict = out.decode(errors="replace").strip().splitlines()[-1]
            if self.live_model is not None:
                await self.live_model.reload(force=True)
            await report({"ok": True, "version": card["version"], "promoted": after != before,
                          "detection_f1": card["metrics"]["detection"]["f1"],
                          "category_f1": card["metrics"]["category_macro_f1"], "reason": verdict})
        except Exception as exc:  # reported to the admin who asked, never lost in a task
            log.exception("retraining failed")
            message = exc.args[0] if exc.args else repr(exc)
            if isinstance(message, list):
                message = " ".join(message)
            await report({"ok": False, "error": str(message)[:300]})
