"""The audit trail of a ticket (table status_history): one row per change, with who, when and what
it changed from and to. Functions of a connection, run inside storage's transactions."""

from __future__ import annotations

import sqlite3

from backend.records import StatusChange, next_stage
from common.status import open311_status

HISTORY_COLUMNS = frozenset({
    "request_id", "at_us", "status", "from_status", "stage", "from_stage", "status_notes", "agency_responsible",
    "from_agency", "service_code", "from_service_code", "changed_by", "idempotency_key", "staff_id", "rating",
    "for_resident", "from_resident", "group_name", "from_group",
})


def write(conn: sqlite3.Connection, entry: dict) -> None:
    """One row of the audit trail; the column names come from this module, never from a client."""
    assert HISTORY_COLUMNS.issuperset(entry), set(entry) - HISTORY_COLUMNS
    conn.execute(f"INSERT INTO status_history ({', '.join(entry)}) VALUES ({', '.join('?' * len(entry))})",
                 tuple(entry.values()))


def record_change(conn: sqlite3.Connection, row: sqlite3.Row, change: StatusChange, at: int) -> None:
    """A change of stage, notes or agency on the ticket `row` (as it was), and its line in the trail."""
    stage = next_stage(row["stage"], change)
    status = open311_status(stage)
    closing = status == "closed" and row["status"] != "closed"
    reopening = status == "open" and row["status"] == "closed"
    conn.execute(
        "UPDATE requests SET status = :status, stage = :stage,"
        " status_notes = CASE WHEN :for_resident THEN status_notes ELSE :notes END,"
        " agency_responsible = COALESCE(:agency, agency_responsible), updated_us = :at,"
        " rating = COALESCE(:rating, rating),"
        " closed_us = CASE WHEN :closing THEN :at WHEN :reopening THEN NULL ELSE closed_us END,"
        " closed_by = CASE WHEN :closing THEN :by WHEN :reopening THEN NULL ELSE closed_by END"
        " WHERE id = :id",
        {"status": status, "stage": stage, "notes": change.status_notes, "agency": change.agency, "at": at,
         "closing": closing, "reopening": reopening, "by": change.changed_by, "id": row["id"],
         "rating": change.rating, "for_resident": change.for_resident},
    )
    write(conn, {
        "request_id": row["id"], "at_us": at, "status": status, "from_status": row["status"], "stage": stage,
        "from_stage": row["stage"], "status_notes": change.status_notes,
        "agency_responsible": change.agency or row["agency_responsible"], "from_agency": row["agency_responsible"],
        "changed_by": change.changed_by, "idempotency_key": change.idempotency_key, "staff_id": change.staff_id,
        "rating": change.rating, "for_resident": int(change.for_resident),
    })
    if change.rating is not None:  # a rating sent with a status change (older clients): one of its own
        conn.execute("INSERT INTO ratings (request_id, reporter, rating, at_us)"
                     " SELECT request_id, 'legacy-' || id, rating, at_us FROM status_history WHERE id = last_insert_rowid()")



def select(conn: sqlite3.Connection, ticket: str) -> list[dict]:
    """A ticket's trail, oldest first."""
    rows = conn.execute(
        "SELECT h.at_us, h.status, h.status_notes, h.agency_responsible, h.changed_by, h.from_status,"
        " h.from_agency, h.rating, h.staff_id, h.stage, h.from_stage, h.service_code, h.from_service_code,"
        " h.for_resident, h.from_resident, h.group_name, h.from_group"
        " FROM status_history h JOIN requests r ON r.id = h.request_id"
        " WHERE r.ticket = ? ORDER BY h.at_us, h.id",
        (ticket,),
    )
    return [dict(row) for row in rows]
