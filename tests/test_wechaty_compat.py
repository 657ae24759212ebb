"""The compatibility shim that makes the wechaty SDK importable on Python 3.11 (bot/channels/wechaty_compat.py).

Each test runs a fresh interpreter: the SDK's import happens once per process, and the shim only
works if it runs before it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.wechat_fixtures import ROOT


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "CACHE_DIR": str(ROOT / "var" / "wechaty")})


def test_the_sdk_imports_through_the_shim_and_builds_a_client():
    done = python("""
        from bot.channels.wechaty_compat import PuppetOptions, Wechaty, WechatyOptions, installed_versions, PINS
        options = WechatyOptions(host="127.0.0.1", port=1, token="insecure_x", endpoint="127.0.0.1:9",
                                 puppet_options=PuppetOptions())
        bot = Wechaty(options)
        assert bot.puppet.options.end_point == "127.0.0.1:9"
        versions = installed_versions()
        assert {k: versions[k] for k in PINS} == PINS, versions
        assert int(versions["pyee"].split(".")[0]) < 12 and int(versions["urllib3"].split(".")[0]) < 2, versions
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_without_the_shim_the_sdk_still_fails_to_import_on_this_python():
    """If this starts passing, the hashability fix is no longer needed: drop it from the shim."""
    done = python("import wechaty")
    assert done.returncode != 0
    assert "mutable default" in done.stderr and "PuppetOptions" in done.stderr


def test_the_sdk_logs_through_logging_without_the_token():
    done = python("""
        import io, logging
        stream = io.StringIO()
        logging.basicConfig(level=logging.DEBUG, stream=stream)
        from bot.channels.wechaty_compat import redact
        redact("insecure_secret")
        sdk = logging.getLogger("Wechaty")
        sdk.warning("token<insecure_secret> in use")
        sdk.info("one line per message")
        print(repr(stream.getvalue()))
    """)
    assert done.returncode == 0, done.stderr
    assert "token<***> in use" in done.stdout
    assert "insecure_secret" not in done.stdout + done.stderr
    assert "one line per message" not in done.stdout + done.stderr
