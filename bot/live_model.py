"""The classifier as the running bot uses it: loaded at start, reloaded when models/CURRENT changes.

A reload that fails (a missing, truncated or tampered version) keeps the last good model and
logs why; a bot never runs without a model, so start-up refuses when none can be loaded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from classifier import registry

log = logging.getLogger(__name__)


class LiveModel:
    def __init__(self, model_dir: Path, reload_interval: float = 10.0):
        self.model_dir = Path(model_dir)
        self.reload_interval = reload_interval
        self.model = registry.load_current(self.model_dir)  # ModelFileError stops start-up
        self._checked = time.monotonic()
        log.info("model %s loaded from %s", self.model.version, self.model_dir)

    @property
    def version(self) -> str:
        return self.model.version

    def maybe_reload(self, force: bool = False) -> bool:
        """Switch to the version CURRENT names if it changed; True when a new model went live."""
        now = time.monotonic()
        if not force and now - self._checked < self.reload_interval:
            return False
        self._checked = now
        wanted = registry.current_version(self.model_dir)
        if not wanted or wanted == self.model.version:
            return False
        try:
            self.model = registry.load(self.model_dir / wanted)
        except registry.ModelFileError as exc:
            log.error("keeping model %s: cannot load %s (%s)", self.model.version, wanted, exc)
            return False
        log.info("model %s is live", wanted)
        return True

    def classify(self, text: str) -> tuple[str, float]:
        """Classify now, with the model that is live (a synchronous caller reloads in line)."""
        self.maybe_reload()
        return self.model.predict([text])[0]

    async def aclassify(self, text: str) -> tuple[str, float]:
        """Classify from the event loop: a due reload (seconds of loading) runs in a thread, so
        the bot keeps taking messages meanwhile; prediction itself takes milliseconds."""
        if time.monotonic() - self._checked >= self.reload_interval:
            await self.reload()
        return self.model.predict([text])[0]

    async def reload(self, force: bool = False) -> bool:
        """maybe_reload off the event loop."""
        return await asyncio.to_thread(self.maybe_reload, force)
