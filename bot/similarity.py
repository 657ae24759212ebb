"""Is a new report the same problem as an open ticket? Character-bigram overlap of normalized text.

Residents describe one broken light in many ways but keep its place words ("3栋", "东门", "路灯"),
so the overlap coefficient (shared bigrams over the smaller set) catches repeats that a full-text
Jaccard score would miss, while the same-group, same-category and time-window rules (intake)
keep unrelated problems apart.
"""

from __future__ import annotations

import re

from classifier.text import normalize

_NOISE = re.compile(r"[^\w\u4e00-\u9fff]+")
_FILLER = set("了的吗呢啊吧呀哦嘛啦")


def bigrams(text: str) -> set[str]:
    chars = [c for c in _NOISE.sub("", normalize(text)) if c not in _FILLER]
    return {a + b for a, b in zip(chars, chars[1:])}


def overlap(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return len(x & y) / min(len(x), len(y))


def similar(a: str, b: str, threshold: float) -> bool:
    return overlap(a, b) >= threshold
