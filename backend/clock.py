"""Time as the backend stores and shows it.

Stored: integer microseconds since the epoch (UTC), so that ordering, range filters and "moved
by at least one tick" are plain integer comparisons. Shown: ISO 8601 in the jurisdiction's
time zone with its offset, as Open311 asks (W3C datetime).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

US_PER_DAY = 86_400_000_000


def now_us() -> int:
    return time.time_ns() // 1000


def to_datetime(us: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz)


def iso(us: int | None, tz: ZoneInfo) -> str | None:
    """Open311 datetime with microseconds, so two changes within a second still differ."""
    if us is None:
        return None
    return to_datetime(us, tz).isoformat(timespec="microseconds")


def local_day(us: int, tz: ZoneInfo) -> str:
    """The jurisdiction's calendar day, as it appears in ticket numbers: 20261124."""
    return to_datetime(us, tz).strftime("%Y%m%d")


def add_days(us: int, days: int) -> int:
    return us + days * US_PER_DAY


def parse_datetime(text: str, tz: ZoneInfo) -> int:
    """An ISO 8601 date or datetime from a query; a value without offset is local time."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return int(value.timestamp() * 1_000_000)


def utc_offset_us(tz: ZoneInfo) -> int:
    """The zone's current offset; ledger charts bucket days with it (a DST edge may shift an hour)."""
    offset = datetime.now(tz).utcoffset() or timedelta(0)
    return int(offset.total_seconds() * 1_000_000)
