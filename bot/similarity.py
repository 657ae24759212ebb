"""Is a new report the same problem as an open ticket? Character-bigram overlap of normalized text.

Residents describe one broken light in many ways but keep its place words ("3栋", "东门", "路灯"),
so the overlap coefficient (shared bigrams over the smaller set) catches repeats that a full-text
Jaccard score would miss, while the same-group, same-category and time-window rules (intake)
keep unrelated problems apart. Place numbers decide first: "3栋楼道灯坏了" and "5栋楼道灯坏了" share
most of their bigrams but are two lights.
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


_PLACE_NUMBER = re.compile(r"\d+(?:-\d+)+|\d+(?=\s*(?:栋|幢|号楼|单元|号|室|楼|组|队|层|巷|弄))")


def place_numbers(text: str) -> set[str]:
    """Building, unit, room and lane numbers: "3栋2单元" -> {"3", "2"}, "12-3-502" -> {"12-3-502"}."""
    return set(_PLACE_NUMBER.findall(normalize(text)))


def similar(a: str, b: str, threshold: float) -> bool:
    """Same problem? Two reports naming different buildings or rooms never are, however alike."""
    pa, pb = place_numbers(a), place_numbers(b)
    if pa and pb and not pa & pb:
        return False
    return overlap(a, b) >= threshold
