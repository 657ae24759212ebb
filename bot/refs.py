"""Ticket numbers as people write them, and which tickets a person may see.

A number comes in many forms: GX20261202-0001, gx 20261202 0001, 20261202-0001, #12 (the local
number staff see in 待确认 before the backend gives one), 0001号, 工单12, or the bare digits. Each
resolves to exactly one ticket the person may see, to several (they are asked which), or to none.
Residents see the tickets they reported or joined; grid managers those of their groups; admins all.
Another person's ticket is answered exactly like a missing one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.store import Store

_FULL = re.compile(r"(?i)(?<![A-Za-z0-9])([A-Z]{1,6})?\s*[-_]?\s*(20\d{6})\s*[-_－—\s]?\s*(\d{1,6})(?!\d)")
_LOCAL = re.compile(r"#\s*(\d{1,9})(?!\d)")
_BARE = re.compile(r"(?:工单|单号|编号|号码)\s*(?:号|是|为)?\s*[:：]?\s*(\d{1,9})(?!\d)|(?<![\d#])(\d{1,9})\s*(?:号?工单|号单(?!元|位))"
                   r"|^\s*(?:查询|查|查一下|查下)?\s*(\d{1,9})\s*$")


@dataclass(frozen=True)
class Ref:
    kind: str   # full | local | bare
    text: str   # as it will be shown back: GX20261202-0001, #12, 0014
    day: str = ""
    seq: int = 0


def parse(text: str) -> list[Ref]:
    """Every ticket number in a text, in order, without repeats."""
    text = unicodedata.normalize("NFKC", text)
    found: list[Ref] = []
    taken: list[tuple[int, int]] = []
    for m in _FULL.finditer(text):
        prefix = (m.group(1) or "").upper()
        found.append(Ref("full", f"{prefix}{m.group(2)}-{int(m.group(3)):04d}", m.group(2), int(m.group(3))))
        taken.append(m.span())
    for m in _LOCAL.finditer(text):
        if not any(s <= m.start() < e for s, e in taken):
            found.append(Ref("local", f"#{int(m.group(1))}", seq=int(m.group(1))))
            taken.append(m.span())
    for m in _BARE.finditer(text):
        if not any(s <= m.start() < e for s, e in taken):
            digits = next(g for g in m.groups() if g)
            found.append(Ref("bare", digits, seq=int(digits)))
    unique = []
    for ref in found:
        if ref not in unique:
            unique.append(ref)
    return unique


def _visible(sender_id: str, groups: list[str] | None) -> tuple[str, list]:
    """SQL condition for the tickets a person may see: theirs, their groups' (managers), all (None)."""
    if groups is None:
        return "1", []
    marks = ",".join("?" * len(groups))
    mine = "t.id IN (SELECT ticket_id FROM ticket_reporters WHERE reporter_id = ?)"
    if not groups:
        return mine, [sender_id]
    return f"({mine} OR t.group_name IN ({marks}))", [sender_id, *groups]


async def resolve(store: Store, ref: Ref, sender_id: str, groups: list[str] | None) -> list:
    """The tickets a reference may mean, among those the person may see (at most a few)."""
    where, params = _visible(sender_id, groups)
    if ref.kind == "full":
        # The prefix is the backend's and may differ (GX, or none written): the day and number decide.
        rows = await store.all(
            f"SELECT t.* FROM tickets t WHERE {where} AND t.service_request_id LIKE ? ORDER BY t.id",
            (*params, f"%{ref.day}-%"))
        return [r for r in rows if _sequence(r["service_request_id"]) == ref.seq]
    if ref.kind == "local":
        return await store.all(f"SELECT t.* FROM tickets t WHERE {where} AND t.id = ?", (*params, ref.seq))
    rows = await store.all(f"SELECT t.* FROM tickets t WHERE {where} AND (t.id = ? OR t.service_request_id LIKE ?)"
                           f" ORDER BY t.id DESC LIMIT 50", (*params, ref.seq, f"%-%{ref.seq % 10000:04d}"))
    by_number = [r for r in rows if r["service_request_id"] and _sequence(r["service_request_id"]) == ref.seq]
    if by_number:
        return by_number[:5]  # 0014 means the backend's number; a local #14 is written with the #
    return [r for r in rows if r["id"] == ref.seq]


def _sequence(number: str | None) -> int | None:
    m = re.search(r"-(\d+)$", number or "")
    return int(m.group(1)) if m else None
