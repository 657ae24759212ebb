"""Personal numbers in text that others will see: one masking for the bot and the backend.

Residents write phone, ID-card and bank-card numbers into complaints, and not always as plain
digits: 138.1234.5678, 138 1234 5678, full-width １３８…, digits with zero-width characters between
them, or in Chinese numerals (一三八一二三四五六七八). Every run of digits (of any of those forms,
with at most one separator between two digits) is read as one number; a number that is a mobile
phone (11 digits from 1[3-9], with or without +86), a landline with its area code (0 + 9 to 11
digits), or an ID or bank card (15 to 19 digits, the last may be X) keeps its first 3 and last 4
digits and has the others replaced by `*`. Separators and the text's length stay as they were.
WeChat ids are hidden whole.
"""

from __future__ import annotations

import re
import unicodedata

_CHINESE = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
            "九": 9}
_SEPARATORS = set(" -.·_/\u3000\u00a0\u2009\u202f－—．。、,，") | {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
_WECHAT_ID = re.compile(r"wxid_[A-Za-z0-9_-]+|\b[A-Za-z][A-Za-z0-9_-]{5,19}@chatroom\b")


def _digit(ch: str) -> str | None:
    """The digit a character stands for (any width, Chinese numerals), X for the ID check digit."""
    if ch in _CHINESE:
        return str(_CHINESE[ch])
    if ch in "Xx\uff38\uff58":
        return "X"
    if ch.isdigit():
        try:
            return str(unicodedata.digit(ch))
        except (TypeError, ValueError):
            return None
    return None


def _runs(text: str):
    """(start, end, digits, positions) of each run of digits with single separators between them."""
    i, n = 0, len(text)
    while i < n:
        d = _digit(text[i])
        if d is None or d == "X":
            i += 1
            continue
        start, digits, positions, j = i, [d], [i], i + 1
        while j < n:
            d = _digit(text[j])
            if d is not None:
                digits.append(d)
                positions.append(j)
                j += 1
                continue
            # One separator (or a few invisible characters) between two digits keeps the run going.
            k = j
            while k < n and text[k] in _INVISIBLE and k - j < 3:
                k += 1
            if k == j and text[j] in _SEPARATORS:
                k = j + 1
            if k > j and k < n and _digit(text[k]) is not None:
                j = k
                continue
            break
        end = positions[-1] + 1
        yield start, end, "".join(digits), positions
        i = end


def _personal(digits: str, text: str, start: int) -> bool:
    if "X" in digits[:-1]:
        return False
    plain = digits.rstrip("X")
    if digits.startswith("86") and len(plain) == 13 and re.fullmatch(r"861[3-9]\d{9}", plain):
        return True
    if len(digits) == 11 and re.fullmatch(r"1[3-9]\d{9}", digits):
        return True
    if re.fullmatch(r"0\d{9,11}", digits):
        return True  # a landline with its area code: 027-87654321, 0755 1234 5678
    if 15 <= len(digits) <= 19 and (digits[-1] == "X" or plain.isdigit()):
        return True  # ID cards (15 or 18 characters), bank cards (16 to 19 digits)
    return False


def mask(text: str | None) -> str:
    """The text with personal numbers masked (first 3 and last 4 digits kept) and WeChat ids hidden."""
    if not text:
        return text or ""
    chars = list(text)
    for start, end, digits, positions in _runs(text):
        # An X right after the digits is the ID card's check digit.
        if end < len(text) and _digit(text[end]) == "X":
            digits += "X"
            positions = [*positions, end]
        if not _personal(digits, text, start):
            continue
        keep = 5 if len(digits) == 13 and digits.startswith("861") else 3  # +86 138****5678
        for p in positions[keep:-4]:
            chars[p] = "*"
    return hide_wechat_ids("".join(chars))


def hide_wechat_ids(text: str | None) -> str:
    if not text:
        return text or ""
    return _WECHAT_ID.sub(lambda m: "*" * len(m.group()), text)
