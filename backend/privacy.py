"""Residents' personal numbers and ids in what the backend shows.

Residents write phone and ID-card numbers into complaints. Lists, CSV exports and the public
Open311 reads show them masked (first 3 and last 4 digits kept, the length unchanged so a client
that counts characters sees the same text length); only the ticket page shows them whole, to staff
whose groups the ticket belongs to. WeChat ids are never shown anywhere.
"""

from __future__ import annotations

import hashlib
import re

# \d matches full-width digits too (１３８…), which residents' phone keyboards produce.
# 15 to 19 characters: old and new ID cards (the last may be X), and bank cards along with them.
_ID_CARD = re.compile(r"(?<!\d)\d{14,18}[\dXxＸｘ](?![\dA-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|＋)?(?:86|８６)[ -]?)?[1１]\d{2}[ -]?\d{4}[ -]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")
_WECHAT_ID = re.compile(r"wxid_[A-Za-z0-9_-]+|\b[A-Za-z][A-Za-z0-9_-]{5,19}@chatroom\b")
_OPAQUE_REPORTER = re.compile(r"r-[0-9a-f]{16}")


def mask(text: str | None) -> str:
    """The text with phone, ID-card (and bank-card) numbers masked and WeChat ids hidden."""
    if not text:
        return text or ""
    text = _ID_CARD.sub(_keep_ends, text)
    text = _MOBILE.sub(_keep_ends, text)
    text = _LANDLINE.sub(_keep_ends, text)
    return hide_wechat_ids(text)


def hide_wechat_ids(text: str | None) -> str:
    if not text:
        return text or ""
    return _WECHAT_ID.sub(lambda m: "*" * len(m.group()), text)


def reporter_label(reporter: str | None) -> str:
    """The reporter as the ledger shows it: the bot's opaque id as is, anything else made opaque."""
    if not reporter:
        return ""
    if _OPAQUE_REPORTER.fullmatch(reporter):
        return reporter
    return "r-" + hashlib.sha256(reporter.encode()).hexdigest()[:16]


def _keep_ends(match: re.Match) -> str:
    number = match.group()
    digits = [i for i, ch in enumerate(number) if ch.isdigit() or ch in "XxＸｘ"]
    hidden = set(digits[3:-4])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(number))
