"""The wechaty Python SDK, importable on Python 3.11 and quiet. The one module that imports it.

wechaty 0.10.7 is the last release (with wechaty-puppet 0.4.23, wechaty-puppet-service 0.8.10 and
wechaty-grpc 0.20.19). As published it does not import on Python 3.11:

- pyee 12 no longer exports `AsyncIOEventEmitter` from its root: pyproject pins `pyee<12`.
- urllib3 2 removed `get_host`, which `wechaty.user.url_link` imports: pyproject pins `urllib3<2`.
- `PuppetOptions` is a dataclass with `eq=True`, hence unhashable, and Python 3.11's dataclasses
  reject an unhashable default as "mutable" (`WechatyOptions.puppet_options = PuppetOptions()`)
  while creating the class. Giving `PuppetOptions` the identity hash before `wechaty` is imported
  is enough: nothing hashes options by value. (The shared default it allows is never used here:
  the channel passes its own `PuppetOptions` every time, because the SDK writes the token into it.)

Two more adjustments, because the channel runs the SDK inside a long-lived bot:

- The SDK's loggers print to their own stderr handlers at INFO (one line per message and send),
  and one of them logs the token. They are routed into the `logging` tree at WARNING, and
  `redact()` keeps a token out of every line they write.
- `ping_endpoint` is a blocking telnet with a 3 s timeout, run inside the event loop on every
  connect. The channel probes the endpoint itself, without blocking, before each connect, so the
  SDK's check is replaced by one that always passes.

`CACHE_DIR` (where the SDK creates a directory at import) defaults to var/wechaty.
"""

from __future__ import annotations

import logging
import os
import warnings
from importlib import metadata

os.environ.setdefault("CACHE_DIR", os.path.join("var", "wechaty"))

from wechaty_puppet.schemas.puppet import PuppetOptions  # noqa: E402

PuppetOptions.__hash__ = object.__hash__  # type: ignore[assignment]  # see the module docstring

# The SDK builds emitters from pyee's root on every connect; pyee 11 warns each time.
warnings.filterwarnings("ignore", message="pyee.AsyncIOEventEmitter has been moved", category=DeprecationWarning)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # telnetlib, imported by the SDK
    import wechaty_puppet_service.puppet as _service_puppet  # noqa: E402
    from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
    from grpclib.const import Status  # noqa: E402
    from grpclib.exceptions import GRPCError, StreamTerminatedError  # noqa: E402
    from wechaty import Wechaty, WechatyOptions  # noqa: E402
    from wechaty_puppet import MessageType, WechatyPuppetError  # noqa: E402
    from wechaty_puppet.exceptions import WechatyPuppetOperationError  # noqa: E402

__all__ = ["AsyncIOScheduler", "GRPCError", "MessageType", "PuppetOptions", "Status", "StreamTerminatedError",
           "Wechaty", "WechatyOptions", "WechatyPuppetError", "WechatyPuppetOperationError", "PINS",
           "installed_versions", "redact"]

# What this module was written against; test_wechaty_compat checks the installed set.
PINS = {"wechaty": "0.10.7", "wechaty-puppet": "0.4.23", "wechaty-puppet-service": "0.8.10",
        "wechaty-grpc": "0.20.19"}


def installed_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in (*PINS, "pyee", "urllib3")}


def _endpoint_always_reachable(end_point: str) -> bool:
    return True


_service_puppet.ping_endpoint = _endpoint_always_reachable


class _Redactor(logging.Filter):
    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


_REDACTOR = _Redactor()


def redact(secret: str) -> None:
    """Keep `secret` (the puppet token) out of everything the SDK logs."""
    _REDACTOR.secrets.add(secret)


def _route_sdk_loggers() -> None:
    # wechaty_puppet.get_logger gives every SDK logger its own handler and propagate=False.
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or logger.propagate:
            continue
        if any(getattr(h, "formatter", None) and h.formatter._fmt and "%(name)s - %(levelname)s" in h.formatter._fmt
               for h in logger.handlers):
            logger.handlers = []
            logger.propagate = True
            logger.setLevel(logging.WARNING)
            logger.addFilter(_REDACTOR)


_route_sdk_loggers()
# PuppetService warns on every connect that options win over environment variables (naming the
# token); its errors still show.
logging.getLogger("PuppetService").setLevel(logging.ERROR)
