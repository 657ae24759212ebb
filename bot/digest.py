"""The grid manager's morning digest, and the reviews of a group on trial.

For each grid manager and one day (yesterday, in the district's time zone), about their groups:
new tickets, what is open and overdue (督办), categories rising against the four weeks before,
problems reported again by more people, the residents' ratings, and, for groups in `observe`
mode, the tickets the bot would have filed and the likely complaints it ignored, numbered. One
reply reviews one item (「对 3」, 「错 3」, 「改 3 供水」); a review is a labelled example for
retraining (the `decisions` table) and counts in the group's measured precision and recall, shown
in the digest with whether the group is ready for `live`.

The same digest is sent privately at `digest.time` by the running bot, and printed by
`python -m bot digest --config FILE --date YYYY-MM-DD [--manager ID]`. An item keeps its number
once listed (`digest_items`), so a review means what the digest said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from bot import replies, tickets
from bot.config import Group, Settings
from bot.steps.mode import LIVE, OBSERVE, WOULD_ASK, WOULD_FILE
from bot.steps.turn import utc_iso
from classifier.corpus import NONE
from common import status

WOULD, IGNORED_KIND = "would", "ignored"
RIGHT, WRONG, CHANGED = "right", "wrong", "changed"
RISING_MIN = 3          # a category is "rising" with at least this many reports in the week…
RISING_FACTOR = 2.0     # …and at least this many times its weekly average over the four weeks before


@dataclass
class Item:
    n: int
    message_key: str
    kind: str               # WOULD (the bot would have filed it) or IGNORED_KIND (a likely complaint it ignored)
    label: str              # the category the bot saw in it
    group: str = ""
    text: str = ""
    sender: str = ""
    sure: bool = False      # a would-be ticket it would have filed without asking


@dataclass
class Measured:
    """A group's reviewed decisions: would-be tickets right (tp) or wrong (fp), ignored ones that
    were complaints (fn) or rightly ignored (tn)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def reviewed(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float | None:
        return self.tp / self.reviewed if self.reviewed else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass
class Digest:
    manager: str
    day: date
    groups: list[Group]
    new: list = field(default_factory=list)
    open_count: int = 0
    awaiting: int = 0
    overdue: list = field(default_factory=list)          # (row, level)
    rising: list = field(default_factory=list)           # (category, this week, weekly average before)
    repeated: list = field(default_factory=list)         # (row, new reports that day, reporters in all)
    ratings: list = field(default_factory=list)          # (row, rating)
    items: list[Item] = field(default_factory=list)
    measured: dict = field(default_factory=dict)         # group name -> Measured


def day_bounds(day: date, zone) -> tuple[str, str]:
    """The UTC ISO times at which a local calendar day starts and ends."""
    start = datetime.combine(day, time(0), zone)
    return utc_iso(start), utc_iso(start + timedelta(days=1))


def _marks(n: int) -> str:
    return ",".join("?" * n)


async def build(settings: Settings, store, model, manager: str, day: date, now: datetime | None = None) -> Digest:
    """The digest of `manager`'s groups for `day`. `model` scores the ignored messages of groups on
    trial (anything with `best_complaint(texts)`); its items are numbered once and kept."""
    now = now or datetime.now(timezone.utc)
    groups = settings.groups_of(manager) or (list(settings.groups) if manager in settings.admins else [])
    names = [g.name for g in groups]
    d = Digest(manager, day, groups)
    if not names:
        return d
    start, end = day_bounds(day, settings.zone)
    q = _marks(len(names))
    d.new = await store.all(f"SELECT * FROM tickets WHERE group_name IN ({q}) AND COALESCE(sent_at, created_at) >= ?"
                            f" AND COALESCE(sent_at, created_at) < ? AND state != ? ORDER BY id",
                            (*names, start, end, tickets.T_REJECTED))
    live = await store.all(f"SELECT * FROM tickets WHERE group_name IN ({q}) AND state IN ({_marks(len(tickets.LIVE))})"
                           " ORDER BY id", (*names, *tickets.LIVE))
    d.open_count = len(live)
    d.awaiting = sum(1 for r in live if r["state"] == tickets.T_AWAITING)
    for row in live:
        level = overdue_level(row, now)
        if level != status.NOT_OVERDUE:
            d.overdue.append((row, level))
    d.rising = await _rising(store, names, day, settings.zone)
    d.repeated = [(await tickets.ticket(store, r["ticket_id"]), r["n"], r["total"]) for r in await store.all(
        f"SELECT r.ticket_id, count(*) AS n, (SELECT count(DISTINCT x.reporter_id) FROM ticket_reporters x"
        f" WHERE x.ticket_id = r.ticket_id) AS total FROM ticket_reporters r JOIN tickets t ON t.id = r.ticket_id"
        f" JOIN messages m ON m.key = r.message_key"
        f" WHERE t.group_name IN ({q}) AND r.message_key != t.message_key AND m.sent_at >= ? AND m.sent_at < ?"
        f" GROUP BY r.ticket_id ORDER BY n DESC",
        (*names, start, end))]
    d.ratings = [(await tickets.ticket(store, r["ticket_id"]), r["payload"]) for r in await store.all(
        f"SELECT o.ticket_id, json_extract(o.payload, '$.rating') AS payload FROM outbox o JOIN tickets t"
        f" ON t.id = o.ticket_id JOIN messages m ON m.key = substr(o.idempotency_key, 6)"
        f" WHERE o.kind = 'rating' AND t.group_name IN ({q}) AND m.sent_at >= ? AND m.sent_at < ? ORDER BY o.id",
        (*names, start, end))]
    d.items = await _items(settings, store, model, manager, day, [g for g in groups if g.mode == OBSERVE])
    for g in groups:
        if g.mode != LIVE:
            d.measured[g.name] = await measured(store, g.name)
    return d


def empty(d: Digest) -> bool:
    """Nothing happened and nothing waits: no message is better than an empty one."""
    return not (d.new or d.open_count or d.overdue or d.repeated or d.ratings or d.items)


def overdue_level(row, now: datetime) -> str:
    """The ticket's 督办 level, judged as the ledger judges it (common.status.overdue_level)."""
    if row["state"] != tickets.T_OPEN or not row["expected_datetime"]:
        return status.NOT_OVERDUE
    expected = _when(row["expected_datetime"])
    requested = _when(row["created_at"])
    return status.overdue_level(True, requested, expected, now)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


async def _rising(store, names: list[str], day: date, zone) -> list[tuple[str, int, float]]:
    """Categories reported (tickets and joined reports) at least RISING_MIN times in the week ending
    `day`, and at least RISING_FACTOR times their weekly average in the four weeks before."""
    week_start = day_bounds(day - timedelta(days=6), zone)[0]
    week_end = day_bounds(day, zone)[1]
    before = day_bounds(day - timedelta(days=34), zone)[0]
    q = _marks(len(names))
    rows = await store.all(
        f"SELECT t.category, r.at FROM (SELECT id AS ticket_id, COALESCE(sent_at, created_at) AS at FROM tickets"
        f" WHERE state != 'rejected' UNION ALL SELECT x.ticket_id, m.sent_at FROM ticket_reporters x"
        f" JOIN messages m ON m.key = x.message_key JOIN tickets y ON y.id = x.ticket_id"
        f" WHERE x.message_key != y.message_key) r"
        f" JOIN tickets t ON t.id = r.ticket_id WHERE t.group_name IN ({q}) AND r.at >= ? AND r.at < ?",
        (*names, before, week_end))
    this_week: dict[str, int] = {}
    earlier: dict[str, int] = {}
    for row in rows:
        bucket = this_week if row["at"] >= week_start else earlier
        bucket[row["category"]] = bucket.get(row["category"], 0) + 1
    out = []
    for category, count in this_week.items():
        average = earlier.get(category, 0) / 4
        if count >= RISING_MIN and count >= RISING_FACTOR * average:
            out.append((category, count, average))
    return sorted(out, key=lambda r: -r[1])


async def _items(settings: Settings, store, model, manager: str, day: date, trial: list[Group]) -> list[Item]:
    """The review items of the manager's groups on trial for `day`: numbered once, then kept."""
    key = day.isoformat()
    kept = await store.all("SELECT i.*, m.group_name, m.text, m.sender_name, m.note FROM digest_items i"
                           " JOIN messages m ON m.key = i.message_key WHERE i.manager_id = ? AND i.day = ? ORDER BY n",
                           (manager, key))
    if kept:
        return [Item(r["n"], r["message_key"], r["kind"], r["label"], r["group_name"], r["text"], r["sender_name"],
                     r["note"] == WOULD_FILE) for r in kept]
    if not trial:
        return []
    start, end = day_bounds(day, settings.zone)
    found: list[Item] = []
    limit = settings.digest.max_items
    for group in trial:
        rows = await store.all(
            "SELECT * FROM messages WHERE group_name = ? AND in_group = 1 AND sent_at >= ? AND sent_at < ?"
            " AND state = 'ignored' AND kind = 'text' AND (note IN (?, ?) OR note = 'not a complaint') ORDER BY id",
            (group.name, start, end, WOULD_FILE, WOULD_ASK))
        would = [r for r in rows if r["note"] in (WOULD_FILE, WOULD_ASK)]
        found += [Item(0, r["key"], WOULD, r["label"], group.name, r["text"], r["sender_name"], r["note"] == WOULD_FILE)
                  for r in would[:limit]]
        ignored = [r for r in rows if r["note"] == "not a complaint"]
        guesses = model.best_complaint([r["text"] for r in ignored]) if ignored else []
        likely = [(r, category) for r, (category, p) in zip(ignored, guesses) if p >= settings.digest.likely_complaint]
        found += [Item(0, r["key"], IGNORED_KIND, category, group.name, r["text"], r["sender_name"])
                  for r, category in likely[: max(0, limit - len(would[:limit]))]]
    for n, item in enumerate(found, 1):
        item.n = n
    async with store.transaction() as db:
        for item in found:
            await db.execute("INSERT OR IGNORE INTO digest_items (manager_id, day, n, message_key, kind, label)"
                             " VALUES (?,?,?,?,?,?)", (manager, key, item.n, item.message_key, item.kind, item.label))
    return found


async def measured(store, group_name: str) -> Measured:
    """The group's precision and recall from the latest decision on each message: a grid manager's
    确认/改类 (right) or 驳回 (wrong) of a held ticket, and reviews of digest items."""
    rows = await store.all(
        "SELECT d.action FROM decisions d LEFT JOIN tickets t ON t.id = d.ticket_id"
        " LEFT JOIN messages m ON m.key = d.message_key"
        " WHERE d.id IN (SELECT MAX(id) FROM decisions GROUP BY message_key)"
        " AND COALESCE(t.group_name, m.group_name) = ?", (group_name,))
    m = Measured()
    for row in rows:
        action = row["action"]
        if action in ("confirm", "recategorize", f"review:{WOULD}:{RIGHT}", f"review:{WOULD}:{CHANGED}"):
            m.tp += 1
        elif action in ("reject", f"review:{WOULD}:{WRONG}"):
            m.fp += 1
        elif action in (f"review:{IGNORED_KIND}:{WRONG}", f"review:{IGNORED_KIND}:{CHANGED}"):
            m.fn += 1
        elif action == f"review:{IGNORED_KIND}:{RIGHT}":
            m.tn += 1
    return m


def ready(settings: Settings, m: Measured) -> bool:
    return (m.reviewed >= settings.digest.ready_min_reviewed and m.precision is not None
            and m.precision >= settings.digest.ready_precision)


async def review(store, manager: str, n: int, verdict: str, category: str | None) -> tuple[Item, str] | None:
    """Record a grid manager's review of item `n` of their latest digest: (the item, the label it now
    has), or None when their latest digest has no such item."""
    row = await store.one(
        "SELECT i.*, m.text, m.group_name FROM digest_items i JOIN messages m ON m.key = i.message_key"
        " WHERE i.manager_id = ? AND i.n = ? AND i.day = (SELECT MAX(day) FROM digest_items WHERE manager_id = ?)",
        (manager, n, manager))
    if row is None:
        return None
    item = Item(row["n"], row["message_key"], row["kind"], row["label"], row["group_name"], row["text"])
    if verdict == CHANGED:
        label = category
    elif item.kind == WOULD:
        label = item.label if verdict == RIGHT else NONE
    else:
        label = NONE if verdict == RIGHT else item.label
    await tickets.record_decision(store, item.message_key, item.text, label, f"review:{item.kind}:{verdict}", manager)
    return item, label


def render(settings: Settings, d: Digest, names: dict[str, str], who: str | None = None) -> list[str]:
    """The digest as chat messages (each short enough for one WeChat text)."""
    return replies.digest(settings, d, names, who)


async def latest_items_day(store, manager: str) -> str | None:
    row = await store.one("SELECT MAX(day) AS day FROM digest_items WHERE manager_id = ?", (manager,))
    return row["day"] if row else None
