"""`make bench`: run every benchmark and write bench/results.md with the machine, commit and date."""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = [
    ("Classifier", "bench.classifier_bench"),
    ("Conversation rules: places, emergencies, follow-ups (odd lines held out)", "bench.conversation_rules"),
    ("Tracking backend", "bench.backend_bench"),
    ("WeChat channel", "bench.wechat_bench"),
    ("End to end: one message through intake, backend and reply", "bench.e2e_bench"),
    ("Intake API (http channel): hotline transcripts", "bench.http_bench"),
    ("Load: 20,000 messages over 300 groups", "bench.load_bench"),
]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> int:
    from bench import table

    parts = [f"# gridbot benchmarks\n\n- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
             f"- commit: {_commit()}\n- machine: {_machine()}\n"]
    failed = False
    for title, module in SUITES:
        print(f"running {title} benchmarks…", file=sys.stderr, flush=True)
        try:
            rows = importlib.import_module(module).run()
        except ModuleNotFoundError as exc:
            parts.append(f"## {title}\n\nnot available: {exc}\n")
            continue
        except Exception as exc:  # a failed suite is reported, the others still run
            failed = True
            parts.append(f"## {title}\n\nFAILED: {exc!r}\n")
            continue
        parts.append(f"## {title}\n\n{table(rows)}\n")
        print(table(rows), flush=True)
    out = ROOT / "bench" / "results.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    print(f"written {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
