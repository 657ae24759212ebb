"""Classifier benchmarks: predict throughput vs. jieba alone, load time, memory, training time.

Each measurement runs in a child process pinned to one core (taskset) with one BLAS thread,
so figures are per-core and a busy parent does not distort them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINES = 100_000

_CHILD = r'''
import json, resource, sys, time
t0 = time.perf_counter()
mode, path, models = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "jieba":
    import jieba
    jieba.setLogLevel(60)
    tok = jieba.Tokenizer(); tok.initialize()
    t1 = time.perf_counter()
    with open(path, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    t2 = time.perf_counter()
    for text in texts:
        tok.lcut(text)
    t3 = time.perf_counter()
    out = {"init_s": t1 - t0, "work_s": t3 - t2, "n": len(texts)}
elif mode == "load":
    from classifier import registry
    from classifier.text import get_tokenizer
    model = registry.load_current(models)
    get_tokenizer()
    model.predict(["路灯坏了"])
    out = {"init_s": time.perf_counter() - t0}
else:
    import io
    from classifier import registry
    from classifier.predict import predict_stream
    model = registry.load_current(models)
    model.predict(["路灯坏了"])
    t1 = time.perf_counter()
    sink = io.StringIO()
    with open(path, encoding="utf-8") as fh:
        stats = predict_stream(model, fh, sink, warn=lambda m: None)
    t2 = time.perf_counter()
    out = {"init_s": t1 - t0, "work_s": t2 - t1, "n": stats["written"]}
out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
'''


def _child(mode: str, path: Path, models: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", _CHILD, mode, str(path), str(models)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_input(path: Path, lines: int = LINES) -> None:
    """A file of `lines` messages cycling through the shipped corpus (both splits, labels dropped)."""
    texts = []
    for name in ("train.jsonl", "eval.jsonl"):
        with open(ROOT / "classifier" / "data" / name, encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(lines):
            fh.write(json.dumps({"id": i, "text": texts[i % len(texts)]}, ensure_ascii=False) + "\n")


def run(models: Path = ROOT / "models") -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "messages.jsonl"
        make_input(path)
        jieba_alone = _child("jieba", path, models)
        predict = _child("predict", path, models)
        load = _child("load", path, models)
    card = json.loads((models / (models / "CURRENT").read_text().strip() / "card.json").read_text())
    rate = predict["n"] / predict["work_s"]
    return [
        {"name": "predict throughput (1 core, 100k lines)", "value": f"{rate:,.0f}", "unit": "msgs/s",
         "note": "normalize + jieba + features + calibrated model + JSON in/out"},
        {"name": "jieba alone (1 core, same 100k lines)", "value": f"{jieba_alone['n'] / jieba_alone['work_s']:,.0f}",
         "unit": "msgs/s", "note": "Tokenizer.lcut on raw text, default dictionary"},
        {"name": "predict time / jieba time", "value": f"{predict['work_s'] / jieba_alone['work_s']:.2f}",
         "unit": "x", "note": "target <= 2"},
        {"name": "model load + jieba init", "value": f"{load['init_s']:.2f}", "unit": "s",
         "note": "fresh process, includes imports and one prediction"},
        {"name": "peak resident memory while predicting", "value": f"{predict['max_rss_mb']:.0f}", "unit": "MB",
         "note": "ru_maxrss of the predicting process"},
        {"name": "training time (full corpus)", "value": f"{card.get('train_seconds', 0):.1f}", "unit": "s",
         "note": f"live model {card.get('version')} ({card.get('candidate')}), from its card"},
    ]


if __name__ == "__main__":
    from bench import table

    print(table(run()))
