"""Residents' personal numbers and ids in what the backend shows.

Residents write phone and ID-card numbers into complaints. Lists, CSV exports and the public
Open311 reads show them masked (first 3 and last 4 digits kept, the length unchanged so a client
that counts characters sees the same text length); only the ticket page shows them whole, to staff
whose groups the ticket belongs to. WeChat ids are never shown anywhere.
"""

from __future__ import annotations

import hashlib
import re

from common import masking

_OPAQUE_REPORTER = re.compile(r"r-[0-9a-f]{16}")

# One masking for the bot and the backend: phone, ID-card and bank-card numbers however typed
# (spaced, dotted, full-width, with zero-width characters, in Chinese numerals), and WeChat ids.
mask = masking.mask
hide_wechat_ids = masking.hide_wechat_ids


def reporter_label(reporter: str | None) -> str:
    """The reporter as the ledger shows it: the bot's opaque id as is, anything else made opaque."""
    if not reporter:
        return ""
    if _OPAQUE_REPORTER.fullmatch(reporter):
        return reporter
    return "r-" + hashlib.sha256(reporter.encode()).hexdigest()[:16]
