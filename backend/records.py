"""What storage takes and gives: new requests, status changes, filters, and the SQL they compose into.

Every optional filter is a parameter that is NULL when unused, so the SQL text never changes with
the values and no value ever enters SQL text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from backend.deadlines import mark_sql
from common.status import CLOSED, IN_PROGRESS, RECEIVED, RETURNED

REQUEST_COLUMNS = (
    "ticket, service_code, description, address_string, lat, long, media_url, group_name, reporter, "
    "message_id, status, status_notes, agency_responsible, requested_us, updated_us, expected_us, "
    "closed_us, closed_by, rating, stage, source"
)

# Where a ticket came from (attribute[source]); only WeChat tickets must name their group.
WECHAT = "wechat"
SOURCES = {WECHAT: "微信群", "hotline": "热线", "platform": "政务平台", "web": "网页"}

# `scope` is the staff member's groups (NULL for admins and api clients), `groups` what they picked;
# `mark` is one of backend/deadlines.py's marks, judged at `mark_at`.
FILTER_WHERE = """
 WHERE (:codes IS NULL OR service_code IN (SELECT value FROM json_each(:codes)))
   AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
   AND (:stages IS NULL OR stage IN (SELECT value FROM json_each(:stages)))
   AND (:groups IS NULL OR group_name IN (SELECT value FROM json_each(:groups)))
   AND (:sources IS NULL OR source IN (SELECT value FROM json_each(:sources)))
   AND (:ungrouped IS NULL OR group_name IS NULL)
   AND (:scope IS NULL OR group_name IN (SELECT value FROM json_each(:scope)))
   AND (:start_us IS NULL OR requested_us >= :start_us)
   AND (:end_us IS NULL OR requested_us <= :end_us)
   AND (:overdue_at IS NULL OR """ + mark_sql(":overdue_at") + """ <> 'no')
   AND (:mark IS NULL OR """ + mark_sql(":mark_at") + """ = :mark)
   AND (:closed_since_us IS NULL OR (stage = 'closed' AND closed_us >= :closed_since_us))
   AND (:search IS NULL OR instr(lower(ticket || ' ' || description || ' ' || coalesce(address_string, '')
        || ' ' || coalesce(status_notes, '') || ' ' || agency_responsible), lower(:search)) > 0)
"""

# Orders a list may take; the name picks one of these constant clauses.
ORDERS = {
    # The weekly meeting's order: escalated tickets (督办), then overdue ones, then other open ones,
    # oldest first; then closed ones, most recently closed first.
    "urgent": " ORDER BY CASE WHEN status = 'closed' THEN 3 ELSE CASE " + mark_sql(":now_us") +
              " WHEN 'escalated' THEN 0 WHEN 'overdue' THEN 1 ELSE 2 END END,"
              " CASE WHEN status = 'closed' THEN -coalesce(closed_us, updated_us) ELSE requested_us END",
    "newest": " ORDER BY requested_us DESC",
    "oldest": " ORDER BY requested_us",
}

RATINGS = ("满意", "不满意")


class IdempotencyConflict(Exception):
    """An Idempotency-Key came back with a different request than the one it first made."""

    def __init__(self, ticket: str):
        super().__init__(ticket)
        self.ticket = ticket


@dataclass(frozen=True)
class NewRequest:
    service_code: str
    description: str
    agency: str
    deadline_days: int
    changed_by: str
    address_string: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    group_name: str | None = None
    reporter: str | None = None
    message_id: str | None = None
    idempotency_key: str | None = None
    source: str = WECHAT

    def fingerprint(self) -> str:
        """What a replay must repeat: what the client sent, not who sent it or what config added.
        The default source is left out, so tickets made before sources keep their fingerprints."""
        derived = {"changed_by", "idempotency_key", "agency", "deadline_days"}
        content = {k: v for k, v in asdict(self).items() if k not in derived}
        if content["source"] == WECHAT:
            del content["source"]
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class StatusChange:
    """A change of status, notes or agency, made by an api client or a staff member (`staff_id`).

    `rating` is a resident's rating of the outcome that came with the change (the bot sends one as
    a status update); it is kept on the ticket and in its history for the satisfaction figures.
    """

    status: str
    status_notes: str | None
    agency: str | None
    changed_by: str
    idempotency_key: str | None = None
    staff_id: int | None = None
    rating: str | None = None
    stage: str | None = None  # None: follows from `status` (see next_stage)
    # The notes are for the resident (给居民): kept in the history for the bot to relay, while the
    # ticket's status_notes stay as they were (the bot would otherwise tell them twice).
    for_resident: bool = False


def acted_on(current: str) -> str:
    """The stage after staff act on a ticket without choosing one (a note, a category change)."""
    return IN_PROGRESS if current == RECEIVED else current


def next_stage(current: str, change: StatusChange) -> str:
    """The stage a ticket moves to with a change: the stage asked for, else what the Open311 status
    says. Any change of an open ticket puts it in progress (someone acted on it); a closed status
    keeps a ticket already closed or returned as it is (a late rating, a repeated close)."""
    if change.stage is not None:
        return change.stage
    if change.status == "closed":
        return current if current in (CLOSED, RETURNED) else CLOSED
    return IN_PROGRESS


@dataclass(frozen=True)
class Filters:
    codes: list[str] | None = None
    statuses: list[str] | None = None
    stages: list[str] | None = None
    groups: list[str] | None = None
    sources: list[str] | None = None
    ungrouped: bool = False  # only tickets without a group (waiting for an admin to assign one)
    scope: list[str] | None = None
    start_us: int | None = None
    end_us: int | None = None
    overdue_at: int | None = None
    mark: str | None = None
    mark_at: int | None = None
    closed_since_us: int | None = None
    search: str | None = None

    def params(self) -> dict[str, Any]:
        def as_json(values: list[str] | None) -> str | None:
            return None if values is None else json.dumps(values)

        return {
            "codes": as_json(self.codes), "statuses": as_json(self.statuses), "stages": as_json(self.stages),
            "groups": as_json(self.groups), "scope": as_json(self.scope), "sources": as_json(self.sources),
            "ungrouped": 1 if self.ungrouped else None,
            "start_us": self.start_us, "end_us": self.end_us, "overdue_at": self.overdue_at,
            "mark": self.mark, "mark_at": self.mark_at,
            "closed_since_us": self.closed_since_us, "search": self.search,
        }


@dataclass(frozen=True)
class Created:
    ticket: str
    replayed: bool
