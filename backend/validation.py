"""What a client may send: body reading, field limits, api keys. Every refusal is an ApiError.

The messages are written for the developer of a client (English, naming the field and limit);
Open311 carries them as `[{"code": <HTTP status>, "description": <message>}]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from typing import Mapping
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

from backend.config import BackendConfig
from backend.records import RATINGS, SOURCES, WECHAT, NewRequest, StatusChange
from common.status import RECEIVED, RETURNED, STAGES, open311_status

MAX_BODY_BYTES = 64 * 1024
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_ATTRIBUTE = 200
MAX_MEDIA_URL = 2048
MAX_NOTES = 2000
MAX_AGENCY = 100
MAX_IDEMPOTENCY_KEY = 200
STATUSES = ("open", "closed")
RATING_NOTES = re.compile(r"居民评价[:：]\s*(满意|不满意)")


class ApiError(Exception):
    """A request the backend refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


async def read_fields(request: Request) -> dict[str, str]:
    """The request's fields from a form-encoded, multipart or JSON body, at most MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # Every body is read (and counted) before it is parsed, however it is sent: a chunked multipart
    # body has no Content-Length, and Starlette's form parser would otherwise take it whole.
    body = await _read_body(request)
    if content_type == "multipart/form-data":
        return await _multipart_fields(request, body)
    if content_type == "application/json":
        return _json_fields(body)
    if content_type in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, f"form body is not valid UTF-8 form encoding: {exc}") from exc
        return dict(pairs)
    raise ApiError(415, f"unsupported content type {content_type!r}: send a form (Open311) or JSON")


async def _read_body(request: Request) -> bytes:
    # Counted while streaming, because a chunked body has no Content-Length to check up front.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


async def _multipart_fields(request: Request, body: bytes) -> dict[str, str]:
    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}
    try:
        form = await Request(request.scope, replay).form(max_files=0, max_fields=50)
    except HTTPException as exc:
        raise ApiError(400, f"multipart body: {exc.detail}") from exc
    return _text_fields({key: value for key, value in form.items() if isinstance(value, str)})


def _json_fields(body: bytes) -> dict[str, str]:
    try:
        data = json.loads(body or b"{}")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ApiError(400, "body is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "JSON body must be an object of fields")
    return _text_fields({str(k): "" if v is None else str(v) for k, v in data.items()})


def _text_fields(fields: dict[str, str]) -> dict[str, str]:
    """Fields that are text the database can keep: a lone surrogate ("\\ud800" in JSON) is refused."""
    for key, value in fields.items():
        try:
            key.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, f"field {key.encode('utf-8', 'replace').decode()!r} is not valid Unicode text "
                                "(a lone surrogate)") from None
    return fields


def client_label(fields: Mapping[str, str], api_keys: frozenset[str]) -> str:
    """Check the api_key and name the client for the history, without storing the key itself."""
    given = fields.get("api_key", "")
    # Compare against every key so the time taken does not tell which prefix matched.
    matched = [hmac.compare_digest(given.encode(), key.encode()) for key in api_keys]
    if not given or not any(matched):
        raise ApiError(403, "api_key is missing or not valid")
    return "api:" + hashlib.sha256(given.encode()).hexdigest()[:8]


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


def check_jurisdiction(fields: Mapping[str, str], config: BackendConfig) -> None:
    given = fields.get("jurisdiction_id") or None
    if given is not None and given != config.jurisdiction_id:
        raise ApiError(404, f"unknown jurisdiction_id {given!r}")


def new_request(fields: Mapping[str, str], config: BackendConfig, changed_by: str,
                key: str | None) -> NewRequest:
    """A validated POST /requests.json."""
    code = text(fields, "service_code", 64, required=True)
    service = config.services.get(code)
    if service is None:
        raise ApiError(400, f"unknown service_code {code!r}: see /services.json")
    address = text(fields, "address_string", MAX_ADDRESS)
    lat, long = coordinate(fields, "lat", 90.0), coordinate(fields, "long", 180.0)
    if address is None and (lat is None or long is None):
        raise ApiError(400, "a location is required: address_string, or lat and long")
    media_url = text(fields, "media_url", MAX_MEDIA_URL)
    if media_url is not None and not media_url.lower().startswith(("http://", "https://")):
        raise ApiError(400, "media_url must be an http:// or https:// URL")
    source = text(fields, "attribute[source]", MAX_ATTRIBUTE) or WECHAT
    if source not in SOURCES:
        raise ApiError(400, f"attribute[source] must be one of {', '.join(SOURCES)}, not {source!r}")
    group = text(fields, "attribute[group]", MAX_ATTRIBUTE)
    if group is None and source == WECHAT:
        raise ApiError(400, "attribute[group] is required for a complaint from a WeChat group (attribute[source] "
                            "wechat, the default); a complaint from the hotline, the platform or the web may "
                            "leave it out")
    return NewRequest(
        service_code=code,
        description=text(fields, "description", MAX_DESCRIPTION, required=True),
        agency=service.agency,
        deadline_days=service.deadline_days,
        changed_by=changed_by,
        address_string=address,
        lat=lat,
        long=long,
        media_url=media_url,
        group_name=group,
        reporter=text(fields, "attribute[reporter]", MAX_ATTRIBUTE),
        message_id=text(fields, "attribute[message_id]", MAX_ATTRIBUTE),
        idempotency_key=key,
        source=source,
    )


def status_change(fields: Mapping[str, str], changed_by: str, key: str | None) -> StatusChange:
    """A validated status change from a machine client (the staff extension of the API): `status`
    open|closed as Open311 has it, or `stage` (common/status.py), which says more; when both are
    sent they must agree (returned and closed are both closed). A returned ticket needs notes.

    A resident's rating comes as `rating` (满意 or 不满意), or as the bot sends it: status notes
    that read 居民评价：满意 / 居民评价：不满意.
    """
    stage = text(fields, "stage", 16)
    if stage is not None and stage not in STAGES:
        raise ApiError(400, f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    if stage == RECEIVED:
        raise ApiError(400, "stage 'received' is where a ticket starts; a change can move it to "
                            "in_progress, closed or returned")
    status = text(fields, "status", 16, required=stage is None)
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if stage is not None:
        if status is not None and status != open311_status(stage):
            raise ApiError(400, f"stage {stage!r} has the Open311 status {open311_status(stage)!r}, "
                                f"not {status!r}: send the one that matches, or leave status out")
        status = open311_status(stage)
    notes = text(fields, "status_notes", MAX_NOTES)
    if stage == RETURNED and notes is None:
        raise ApiError(400, "stage 'returned' needs status_notes saying why the ticket is returned")
    rating = text(fields, "rating", 16)
    if rating is not None and rating not in RATINGS:
        raise ApiError(400, f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
    if rating is None and notes is not None:
        found = RATING_NOTES.fullmatch(notes)
        rating = found.group(1) if found else None
    return StatusChange(
        status=status,
        status_notes=notes,
        agency=text(fields, "agency_responsible", MAX_AGENCY),
        changed_by=changed_by,
        idempotency_key=key,
        rating=rating,
        stage=stage,
    )


def text(fields: Mapping[str, str], name: str, limit: int, required: bool = False) -> str | None:
    """A trimmed text field; blank counts as absent."""
    value = (fields.get(name) or "").strip()
    if not value:
        if required:
            raise ApiError(400, f"{name} is required and must not be empty")
        return None
    if len(value) > limit:
        raise ApiError(400, f"{name} is {len(value)} characters long; the limit is {limit}")
    if "\x00" in value:
        raise ApiError(400, f"{name} contains a NUL character")
    return value


def coordinate(fields: Mapping[str, str], name: str, bound: float) -> float | None:
    raw = (fields.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a decimal number, not {raw[:40]!r}") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise ApiError(400, f"{name} must be between -{bound:g} and {bound:g}")
    return value


def csv_list(value: str | None, allowed: tuple[str, ...] | dict | None = None,
             name: str = "") -> list[str] | None:
    """A comma-separated query parameter; None when absent, ApiError on a value not allowed."""
    if value is None or not value.strip():
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if allowed is not None:
        bad = [item for item in items if item not in allowed]
        if bad:
            raise ApiError(400, f"{name}: unknown value {bad[0]!r}")
    return items
