"""Open311 GeoReport v2 routes (JSON), plus the extensions for machine clients.

Spec: https://wiki.open311.org/GeoReport_v2. Field names and types follow it exactly; the
additions are `agency_responsible` and `metadata` attributes on services, the fields `stage`,
`overdue` and `source` on requests (extra fields are allowed), and the POST extensions on
/requests/{id}/ (status, notes, category, rating), which plain Open311 clients never need to call.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend import clock, deadlines, privacy
from backend.config import BackendConfig, Service
from backend.records import RATINGS, Filters, IdempotencyConflict
from backend.validation import (
    STATUSES, ApiError, check_jurisdiction, client_label, csv_list, idempotency_key,
    MAX_NOTES, new_request, read_fields, status_change, text,
)

MAX_RESULTS = 1000
DEFAULT_WINDOW_DAYS = 90

# The attributes the bot sends with every request, declared so that any Open311 client can see them.
ATTRIBUTES = [
    ("group", False, "WeChat group the complaint came from (ledger groups tickets by it); required when "
                     "source is wechat"),
    ("reporter", False, "the resident's id in the channel"),
    ("message_id", False, "the channel's id of the message the ticket was made from"),
    ("source", False, "where the complaint came from: wechat (the default), hotline, platform or web"),
]


def service_json(service: Service) -> dict:
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description,
        "metadata": True,
        "type": "realtime",
        "keywords": service.name,
        "group": service.group,
        "agency_responsible": service.agency,
    }


def request_json(row: dict, config: BackendConfig) -> dict:
    """One stored request as an Open311 service request object; numbers in the description masked."""
    tz = config.timezone
    service = config.services.get(row["service_code"])
    return {
        "service_request_id": row["ticket"],
        "status": row["status"],
        # Extensions: common/status.py's stage, and backend/deadlines.py's judgement (no, overdue, escalated).
        "stage": row["stage"],
        "overdue": deadlines.mark(row["status"], row["requested_us"], row["expected_us"], clock.now_us()),
        "source": row["source"],
        "status_notes": privacy.mask(row["status_notes"]) or None,
        "service_name": service.name if service else row["service_code"],
        "service_code": row["service_code"],
        "description": privacy.mask(row["description"]),
        "agency_responsible": row["agency_responsible"],
        "service_notice": None,
        "requested_datetime": clock.iso(row["requested_us"], tz),
        "updated_datetime": clock.iso(row["updated_us"], tz),
        "expected_datetime": clock.iso(row["expected_us"], tz),
        "address": privacy.mask(row["address_string"]) or None,
        "address_id": None,
        "zipcode": None,
        "lat": row["lat"],
        "long": row["long"],
        "media_url": row["media_url"],
    }


async def list_services(request: Request) -> JSONResponse:
    config: BackendConfig = request.app.state.config
    check_jurisdiction(request.query_params, config)
    return JSONResponse([service_json(s) for s in config.services.values()])


async def service_definition(request: Request) -> JSONResponse:
    config: BackendConfig = request.app.state.config
    check_jurisdiction(request.query_params, config)
    code = request.path_params["code"]
    if code not in config.services:
        raise ApiError(404, f"unknown service_code {code!r}")
    attributes = [
        {"variable": True, "code": name, "datatype": "string", "required": required,
         "datatype_description": description, "order": order, "description": description, "values": []}
        for order, (name, required, description) in enumerate(ATTRIBUTES, start=1)
    ]
    return JSONResponse({"service_code": code, "attributes": attributes})


async def create_request(request: Request) -> JSONResponse:
    state = request.app.state
    fields = await read_fields(request)
    changed_by = client_label(fields, state.api_keys)
    check_jurisdiction(fields, state.config)
    new = new_request(fields, state.config, changed_by, idempotency_key(request))
    try:
        created = await state.db.create(new)
    except IdempotencyConflict as exc:
        raise ApiError(422, f"Idempotency-Key was already used for {exc.ticket} with other content") from exc
    service = state.config.services[new.service_code]
    notice = f"{service.agency}承办，{service.deadline_days}天内处理"
    headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
    return JSONResponse(
        [{"service_request_id": created.ticket, "service_notice": notice, "account_id": None}],
        headers=headers,
    )


def _check_read(request: Request) -> None:
    """Reads are open as Open311 intends, unless the backend's config asks for an api_key."""
    state = request.app.state
    if state.config.require_key_for_reads:
        client_label(request.query_params, state.api_keys)


async def list_requests(request: Request) -> JSONResponse:
    state = request.app.state
    query = request.query_params
    _check_read(request)
    check_jurisdiction(query, state.config)
    ids = csv_list(query.get("service_request_id"))
    if ids is not None:
        # The spec: with service_request_id given, every other filter is ignored.
        rows = await state.db.get_many(ids[:MAX_RESULTS])
    else:
        rows = await state.db.find(_filters(query, state.config), limit=MAX_RESULTS)
    return JSONResponse([request_json(row, state.config) for row in rows])


def _filters(query, config: BackendConfig) -> Filters:
    start = _datetime_param(query, "start_date", config)
    end = _datetime_param(query, "end_date", config)
    if start is None and end is None:
        start = clock.add_days(clock.now_us(), -DEFAULT_WINDOW_DAYS)
    return Filters(
        codes=csv_list(query.get("service_code"), config.services, "service_code"),
        statuses=csv_list(query.get("status"), STATUSES, "status"),
        start_us=start,
        end_us=end,
    )


def _datetime_param(query, name: str, config: BackendConfig) -> int | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return clock.parse_datetime(value, config.timezone)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 datetime, e.g. 2026-11-24T08:00:00+08:00") from None


async def get_request(request: Request) -> JSONResponse:
    state = request.app.state
    _check_read(request)
    check_jurisdiction(request.query_params, state.config)
    ticket = request.path_params["ticket"]
    rows = await state.db.get_many([ticket])
    if not rows:
        raise ApiError(404, f"no service request {ticket!r}")
    return JSONResponse([request_json(rows[0], state.config)])


async def _ticket_write(request: Request, apply) -> JSONResponse:
    """What every write extension shares: the api_key is checked first, `apply(state, fields,
    changed_by, key, ticket)` validates and makes the change, a reused Idempotency-Key on another
    ticket is a 422 and a missing ticket a 404; the answer is the ticket as Open311 shows it."""
    state = request.app.state
    fields = await read_fields(request)
    changed_by = client_label(fields, state.api_keys)
    ticket = request.path_params["ticket"]
    try:
        row = await apply(state, fields, changed_by, idempotency_key(request), ticket)
    except IdempotencyConflict as exc:
        raise ApiError(422, f"Idempotency-Key was already used for {exc.ticket}") from exc
    if row is None:
        raise ApiError(404, f"no service request {ticket!r}")
    return JSONResponse([request_json(row, state.config)])


async def change_status(request: Request) -> JSONResponse:
    """Staff extension for machine clients (api_key): set status, notes and agency, or record a
    resident's rating; every change is kept in the history."""
    async def apply(state, fields, changed_by, key, ticket):
        return await state.db.change_status(ticket, status_change(fields, changed_by, key))
    return await _ticket_write(request, apply)


async def add_note(request: Request) -> JSONResponse:
    """Extension: a resident's addition (relayed by the bot) goes into the ticket's history; the
    status and the staff's notes stay as they are. `from=resident` says it answers a note staff
    wrote for the resident (the history shows it as 居民回复)."""
    async def apply(state, fields, changed_by, key, ticket):
        note = text(fields, "note", MAX_NOTES, required=True)
        source = text(fields, "from", 16)
        if source not in (None, "resident"):
            raise ApiError(400, f"from must be 'resident' or left out, not {source!r}")
        return await state.db.add_note(ticket, note, changed_by, key, from_resident=source == "resident")
    return await _ticket_write(request, apply)


async def change_category(request: Request) -> JSONResponse:
    """Extension: move a ticket to another category (a grid manager's 改类); the agency follows the
    new category, the change is kept in the history and a received ticket is in progress after it."""
    async def apply(state, fields, changed_by, key, ticket):
        code = text(fields, "service_code", 64, required=True)
        service = state.config.services.get(code)
        if service is None:
            raise ApiError(400, f"unknown service_code {code!r}")
        return await state.db.change_category(ticket, code, service.agency, changed_by, key)
    return await _ticket_write(request, apply)


async def rate(request: Request) -> JSONResponse:
    """Extension: a resident's rating of a ticket's outcome (relayed by the bot): one per reporter
    per ticket, the last counts; it never changes the status or the staff's notes."""
    async def apply(state, fields, changed_by, key, ticket):
        rating = text(fields, "rating", 16, required=True)
        if rating not in RATINGS:
            raise ApiError(400, f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
        return await state.db.rate(ticket, text(fields, "reporter", 200, required=True), rating, key)
    return await _ticket_write(request, apply)


routes = [
    Route("/services.json", list_services, methods=["GET"]),
    Route("/services/{code}.json", service_definition, methods=["GET"]),
    Route("/requests.json", list_requests, methods=["GET"]),
    Route("/requests.json", create_request, methods=["POST"]),
    Route("/requests/{ticket}.json", get_request, methods=["GET"]),
    Route("/requests/{ticket}/status.json", change_status, methods=["POST"]),
    Route("/requests/{ticket}/notes.json", add_note, methods=["POST"]),
    Route("/requests/{ticket}/category.json", change_category, methods=["POST"]),
    Route("/requests/{ticket}/rating.json", rate, methods=["POST"]),
]
