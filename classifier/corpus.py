"""The label contract and the labelled corpus: reading, validating and hashing JSON Lines."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import yaml

ROOT = Path(__file__).resolve().parents[1]
TAXONOMY = ROOT / "taxonomy.yaml"
DATA = Path(__file__).parent / "data"
TRAIN = DATA / "train.jsonl"
EVAL = DATA / "eval.jsonl"
# Team-written lines in the registers the first corpus lacked (see data/README.md).
VOICES = DATA / "voices.jsonl"
# Real text, rebuilt by `python -m classifier build-real` (classifier/realdata.py).
REAL_TRAIN = DATA / "real" / "train.jsonl"
REAL_CHECK = DATA / "real" / "check.jsonl"
# Everything `train` learns from by default; the evaluation split and the real check never.
TRAIN_FILES = (TRAIN, VOICES, REAL_TRAIN)
NONE = "none"
# The bot's default operating point (classifier.ignore_below / auto_ticket), chosen from the
# real-text check (classifier/README.md); bot/config.py and config.yaml use the same values.
IGNORE_BELOW, AUTO_TICKET = 0.40, 0.85


class DataError(ValueError):
    """A data or taxonomy file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str = ""  # where a line came from, in data/real/ and the checks; not part of data_hash


@lru_cache(maxsize=4)
def load_taxonomy(path: Path = TAXONOMY) -> dict[str, str]:
    """Category code -> Chinese name, in the contract's order."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        cats = doc["categories"]
        return {str(code): str(spec["name"]) for code, spec in cats.items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not a valid taxonomy file ({exc})") from exc


def labels(path: Path = TAXONOMY) -> list[str]:
    """Every label a model may give: 'none' first, then the category codes."""
    return [NONE, *load_taxonomy(path)]


def read_examples(path: Path | str, allowed: Iterable[str] | None = None) -> list[Example]:
    """All examples of a JSON Lines file; any bad line is an error naming file and line."""
    allowed = set(allowed if allowed is not None else labels())
    examples = []
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:  # also a number past int's digit limit, deep nesting
            raise DataError(f"{path}:{number}: not valid JSON ({getattr(exc, 'msg', exc)})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataError(f"{path}:{number}: needs a non-empty string 'text'")
        if row.get("label") not in allowed:
            raise DataError(f"{path}:{number}: unknown label {row.get('label')!r}")
        examples.append(Example(row["text"], row["label"], str(row.get("source") or "")))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def iter_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, object or None, error or None) for each non-blank line; never raises."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, or a number past int's digit limit
            yield number, None, f"not valid JSON ({getattr(exc, 'msg', exc)})"
            continue
        if not isinstance(row, dict):
            yield number, None, "not a JSON object"
            continue
        yield number, row, None


def data_hash(examples: Iterable[Example]) -> str:
    """sha256 over the examples in order: the card's fingerprint of what a model was trained on."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.text, ex.label], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def read_training(paths: Iterable[Path | str] = TRAIN_FILES) -> list[Example]:
    return [ex for path in paths for ex in read_examples(path)]


def char_bigrams(text: str) -> set[str]:
    from classifier.text import normalize

    norm = normalize(text)
    return {norm[i:i + 2] for i in range(len(norm) - 1)}


def near_duplicates(candidates: Iterable[str], held_out: Iterable[str], threshold: float = 0.8) -> set[int]:
    """Indexes of candidates sharing at least `threshold` of their character bigrams with a held-out text.

    The check that keeps training text away from the evaluation split: an exact or
    near copy (a place name or a particle changed) would measure memory, not reading.
    """
    from classifier.text import normalize

    held_out = list(held_out)
    exact = {normalize(t) for t in held_out}
    index: dict[str, list[int]] = {}
    held = [char_bigrams(t) for t in held_out]
    for i, grams in enumerate(held):
        for g in grams:
            index.setdefault(g, []).append(i)
    found = set()
    for n, text in enumerate(candidates):
        grams = char_bigrams(text)
        if not grams:  # one character: only an exact copy counts
            if normalize(text) in exact:
                found.add(n)
            continue
        shared: dict[int, int] = {}
        for g in grams:
            for i in index.get(g, ()):
                shared[i] = shared.get(i, 0) + 1
        if any(count >= threshold * len(grams) for count in shared.values()):
            found.add(n)
    return found
