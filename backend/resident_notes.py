"""Notes staff write for the resident (给居民), as a feed the bot reads and relays.

`GET /resident-notes.json?api_key=KEY&after=N` answers the notes marked for the resident whose id
is above N, oldest first, at most PAGE_SIZE at a time; the bot keeps the last id it relayed and
asks again with it. The resident's answer comes back through `POST /requests/{id}/notes.json` with
`from=resident` (backend/open311.py).
"""

from __future__ import annotations

import sqlite3

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend import clock
from backend.pages import actor
from backend.validation import ApiError, client_label

PAGE_SIZE = 100
MAX_ID = 2**63 - 1  # SQLite's largest rowid

SELECT_NOTES = (
    "SELECT h.id, r.ticket, h.status_notes AS text, h.at_us, h.changed_by, s.display_name"
    " FROM status_history h JOIN requests r ON r.id = h.request_id LEFT JOIN staff s ON s.id = h.staff_id"
    " WHERE h.for_resident = 1 AND h.id > ? ORDER BY h.id LIMIT ?"
)


def notes_after(conn: sqlite3.Connection, after: int, limit: int = PAGE_SIZE) -> list[dict]:
    return [dict(row) for row in conn.execute(SELECT_NOTES, (after, limit))]


def after_param(value: str | None) -> int:
    """The `after` cursor: absent or blank is 0; anything but a whole number from 0 up is refused."""
    raw = (value or "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ID:
        raise ApiError(400, f"after must be a whole number from 0 to {MAX_ID} (the id of the last note "
                            f"already fetched), not {raw[:40]!r}")
    return int(raw)


async def resident_notes(request: Request) -> JSONResponse:
    state = request.app.state
    client_label(request.query_params, state.api_keys)  # always: these notes name tickets and people
    after = after_param(request.query_params.get("after"))
    rows = await state.db.read(notes_after, after)
    tz = state.config.timezone
    return JSONResponse([
        {"id": row["id"], "service_request_id": row["ticket"], "text": row["text"],
         "datetime": clock.iso(row["at_us"], tz), "author": row["display_name"] or actor(row["changed_by"])}
        for row in rows
    ])


routes = [Route("/resident-notes.json", resident_notes, methods=["GET"])]
