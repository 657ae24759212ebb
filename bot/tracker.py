"""Open311 GeoReport v2 client: create tickets and read their status from any Open311 server.

Errors are split by what the caller should do next. `RetryableTrackerError`: the server could not
be reached or said "later" (connect error, timeout, 408, 429, 5xx); the client has already retried
with backoff and jitter, honouring Retry-After, and the outbox may try again later. The key that
makes that safe is the Idempotency-Key sent with every write. `PermanentTrackerError`: the server
refused the request itself (4xx); retrying the same request cannot help.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)

GET_MANY_CHUNK = 50  # ids per GET /requests.json, to keep URLs well under common limits
RETRYABLE_STATUSES = {408, 429}


class TrackerError(Exception):
    """Any failure to talk to the tracking backend."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class RetryableTrackerError(TrackerError):
    """Worth trying again later; `retry_after` is the server's wish in seconds, when it said one."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1,
                 retry_after: float | None = None):
        super().__init__(message, status=status)
        self.attempts = attempts
        self.retry_after = retry_after


class PermanentTrackerError(TrackerError):
    """The server refused the request; `code` and `description` are its Open311 error."""

    def __init__(self, message: str, *, status: int | None = None, code: Any = None,
                 description: str = ""):
        super().__init__(message, status=status)
        self.code = code
        self.description = description


class TicketNotFoundError(PermanentTrackerError):
    """The server does not know this service_request_id (404)."""


@dataclass(frozen=True)
class Service:
    service_code: str
    service_name: str
    description: str | None
    group: str | None
    metadata: bool
    type: str | None
    keywords: str | None
    agency_responsible: str | None  # reference-backend extension; None elsewhere


@dataclass(frozen=True)
class ServiceRequest:
    service_request_id: str
    status: str
    status_notes: str | None
    agency_responsible: str | None
    service_code: str | None
    service_name: str | None
    description: str | None
    address: str | None
    requested_datetime: datetime | None
    updated_datetime: datetime | None
    expected_datetime: datetime | None
    media_url: str | None
    stage: str | None = None          # the reference backend's 已受理/处理中/已办结/已退回 (common.status)


@dataclass(frozen=True)
class NewTicket:
    """The answer to a create: the ticket number, and whether the server had made it before."""

    service_request_id: str
    service_notice: str | None
    replayed: bool


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.5      # seconds before the 2nd attempt, doubling after that
    backoff_max: float = 10.0
    max_retry_after: float = 30.0  # a longer Retry-After is handed to the caller instead of slept

    def backoff(self, attempt: int) -> float:
        """Equal jitter: half the delay is fixed (so waits really grow), half random (no herds)."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)


class TrackerClient:
    """One per process: a pooled httpx.AsyncClient speaking Open311 to `base_url`."""

    def __init__(self, base_url: str, api_key: str, *, jurisdiction_id: str | None = None,
                 timeout: float = 10.0, connect_timeout: float = 3.0,
                 retry: RetryPolicy = RetryPolicy(), max_connections: int = 10,
                 key_on_reads: bool = False,
                 transport: httpx.AsyncBaseTransport | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"tracker base_url must start with http:// or https://, got {base_url!r}")
        self._api_key = api_key
        self._jurisdiction = {"jurisdiction_id": jurisdiction_id} if jurisdiction_id else {}
        # Open311 reads are public by the standard; a server that closes them (the reference
        # backend's require_key_for_reads) gets the key as a query parameter too.
        self._read_params = {**self._jurisdiction, **({"api_key": api_key} if key_on_reads else {})}
        self._retry = retry
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"Accept": "application/json", "User-Agent": "gridbot-tracker/0.1"},
            transport=transport,
        )

    @classmethod
    def from_env(cls, base_url: str, api_key_env: str, **options: Any) -> TrackerClient:
        """A client whose api key is read from the environment variable config.yaml names."""
        api_key = os.environ.get(api_key_env, "").strip()
        if not api_key:
            raise ValueError(f"tracker.api_key_env: environment variable {api_key_env} is not set")
        return cls(base_url, api_key, **options)

    def with_retry(self, retry: RetryPolicy) -> "TrackerClient":
        """The same client (same connections) with another retry policy: the outbox retries calls
        itself, so its calls are made once each (one retry budget, not retries inside retries)."""
        other = object.__new__(TrackerClient)
        other.__dict__.update(self.__dict__)
        other._retry = retry
        return other

    async def check_key(self) -> bool | None:
        """Whether the backend accepts our api_key, asked without making or changing anything: an
        empty note on no ticket (the reference backend checks the key first: 401/403 for a wrong one,
        400/404 for a right one; a server without the extension answers 404, which proves nothing
        and is taken as accepted). None when the backend cannot be reached (the outbox waits)."""
        try:
            response = await self._http.post("/requests/gridbot-key-check/notes.json",
                                             data={"api_key": self._api_key, **self._jurisdiction})
        except httpx.TransportError:
            return None
        return response.status_code not in (401, 403)

    async def __aenter__(self) -> TrackerClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def services(self) -> list[Service]:
        data = _json_list(await self._send("GET", "/services.json", params=self._read_params))
        return [_service(item) for item in data]

    async def create(self, service_code: str, description: str, *, address_string: str | None = None,
                     group: str | None = None, reporter: str | None = None,
                     message_id: str | None = None, media_url: str | None = None,
                     lat: float | None = None, long: float | None = None,
                     idempotency_key: str | None = None, source: str | None = None) -> NewTicket:
        """POST /requests.json. The Idempotency-Key (default: message_id) makes retries safe. A
        report from another channel than WeChat carries `attribute[source]` and may have no group."""
        fields = {
            "api_key": self._api_key, "service_code": service_code, "description": description,
            "address_string": address_string, "attribute[group]": group or None,
            "attribute[source]": source if source and source != "wechat" else None,
            "attribute[reporter]": reporter, "attribute[message_id]": message_id,
            "media_url": media_url, "lat": lat, "long": long, **self._jurisdiction,
        }
        key = idempotency_key or message_id or uuid.uuid4().hex
        response = await self._send("POST", "/requests.json", data=_present(fields),
                                    headers={"Idempotency-Key": key})
        first = _first(_json_list(response), response)
        if not first.get("service_request_id"):
            raise PermanentTrackerError(
                "server answered without a service_request_id (token-only servers are not supported)",
                status=response.status_code,
            )
        return NewTicket(
            service_request_id=str(first["service_request_id"]),
            service_notice=first.get("service_notice"),
            replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true",
        )

    async def get(self, service_request_id: str) -> ServiceRequest:
        """GET /requests/{id}.json; TicketNotFoundError when the server does not know it."""
        response = await self._send("GET", f"/requests/{quote(service_request_id, safe='')}.json",
                                    params=self._read_params)
        return _service_request(_first(_json_list(response), response))

    async def get_many(self, service_request_ids: Iterable[str]) -> list[ServiceRequest]:
        """The requests the server knows among these ids (unknown ones are simply absent)."""
        ids = list(dict.fromkeys(service_request_ids))
        found: list[ServiceRequest] = []
        for start in range(0, len(ids), GET_MANY_CHUNK):
            params = {"service_request_id": ",".join(ids[start:start + GET_MANY_CHUNK]), **self._read_params}
            data = _json_list(await self._send("GET", "/requests.json", params=params))
            found.extend(_service_request(item) for item in data)
        return found

    async def update(self, service_request_id: str, status: str, *, status_notes: str | None = None,
                     agency_responsible: str | None = None,
                     idempotency_key: str | None = None) -> ServiceRequest:
        """Change a status through the reference backend's staff extension (not standard Open311)."""
        fields = {"api_key": self._api_key, "status": status, "status_notes": status_notes,
                  "agency_responsible": agency_responsible}
        response = await self._send(
            "POST", f"/requests/{quote(service_request_id, safe='')}/status.json",
            data=_present(fields), headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex},
        )
        return _service_request(_first(_json_list(response), response))

    async def add_note(self, service_request_id: str, note: str, *, idempotency_key: str | None = None,
                       from_resident: bool = False) -> None:
        """Add words to a ticket's history without changing its status or staff notes (the reference
        backend's extension `POST /requests/{id}/notes.json`; `from=resident` marks a resident's own)."""
        data = {"api_key": self._api_key, "note": note, **({"from": "resident"} if from_resident else {})}
        await self._send("POST", f"/requests/{quote(service_request_id, safe='')}/notes.json",
                         data=data, headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex})

    async def resident_notes(self, after: int = 0) -> list[dict] | None:
        """Staff notes marked 「给居民」 after note `after`, oldest first (the reference backend's
        `GET /resident-notes.json`); None from a backend without that extension (404)."""
        try:
            data = _json_list(await self._send("GET", "/resident-notes.json",
                                               params={"api_key": self._api_key, "after": str(after)}))
        except PermanentTrackerError as exc:
            if exc.status in (404, 405):
                return None
            raise
        return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), int)
                and isinstance(item.get("service_request_id"), str) and isinstance(item.get("text"), str)]

    async def rate(self, service_request_id: str, reporter: str, rating: str, *,
                   idempotency_key: str | None = None) -> None:
        """A resident's rating, apart from the status (extension `POST /requests/{id}/rating.json`)."""
        await self._send("POST", f"/requests/{quote(service_request_id, safe='')}/rating.json",
                         data={"api_key": self._api_key, "reporter": reporter, "rating": rating},
                         headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex})

    async def recategorize(self, service_request_id: str, service_code: str, *,
                           idempotency_key: str | None = None) -> ServiceRequest:
        """Move a ticket to another category (extension `POST /requests/{id}/category.json`)."""
        response = await self._send(
            "POST", f"/requests/{quote(service_request_id, safe='')}/category.json",
            data={"api_key": self._api_key, "service_code": service_code},
            headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex})
        return _service_request(_first(_json_list(response), response))

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with retries; every write carries an Idempotency-Key, so all are safe to repeat."""
        policy = self._retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:  # connect refused, timeouts, dropped connections
                error: RetryableTrackerError = RetryableTrackerError(
                    f"{method} {path}: {type(exc).__name__}: {exc}", attempts=attempt)
                error.__cause__ = exc
                wait = policy.backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                error = _status_error(method, path, response, attempt)  # raises if permanent
                if error.retry_after is not None and error.retry_after > policy.max_retry_after:
                    raise error
                wait = max(error.retry_after or 0.0, policy.backoff(attempt))
            if attempt == policy.max_attempts:
                raise error
            log.warning("tracker: %s; attempt %d of %d, retrying in %.2fs",
                        error, attempt, policy.max_attempts, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")


def _status_error(method: str, path: str, response: httpx.Response, attempt: int) -> RetryableTrackerError:
    """The retryable error for this response, or raise the permanent one."""
    status = response.status_code
    code, description = _open311_error(response)
    message = f"{method} {path}: HTTP {status}: {description}"
    if status in RETRYABLE_STATUSES or status >= 500:
        return RetryableTrackerError(message, status=status, attempts=attempt,
                                     retry_after=_retry_after(response))
    kind = TicketNotFoundError if status == 404 else PermanentTrackerError
    raise kind(message, status=status, code=code, description=description)


def _open311_error(response: httpx.Response) -> tuple[Any, str]:
    """(code, description) from `[{"code", "description"}]`, or the start of whatever came back."""
    try:
        data = response.json()
        first = data[0] if isinstance(data, list) and data else data
        if isinstance(first, dict) and "description" in first:
            return first.get("code"), str(first["description"])
    except ValueError:
        pass
    return response.status_code, response.text[:200] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds to wait: either a number of seconds or an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_list(response: httpx.Response) -> list:
    try:
        data = response.json()
    except ValueError as exc:
        raise PermanentTrackerError(f"{response.request.url}: answer is not JSON",
                                    status=response.status_code) from exc
    if not isinstance(data, list):
        raise PermanentTrackerError(f"{response.request.url}: expected a JSON array",
                                    status=response.status_code)
    return data


def _first(data: list, response: httpx.Response) -> dict:
    if not data or not isinstance(data[0], dict):
        raise PermanentTrackerError(f"{response.request.url}: empty answer", status=response.status_code)
    return data[0]


def _present(fields: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in fields.items() if value is not None}


def _datetime(value: Any) -> datetime | None:
    # Lenient: a server's odd timestamp should not make its tickets unreadable.
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _service(item: dict) -> Service:
    return Service(
        service_code=str(item.get("service_code", "")), service_name=str(item.get("service_name", "")),
        description=item.get("description"), group=item.get("group"),
        metadata=bool(item.get("metadata", False)), type=item.get("type"),
        keywords=item.get("keywords"), agency_responsible=item.get("agency_responsible"),
    )


def _service_request(item: dict) -> ServiceRequest:
    return ServiceRequest(
        service_request_id=str(item.get("service_request_id", "")), status=str(item.get("status", "")),
        status_notes=item.get("status_notes"), agency_responsible=item.get("agency_responsible"),
        service_code=item.get("service_code"), service_name=item.get("service_name"),
        description=item.get("description"), address=item.get("address"),
        requested_datetime=_datetime(item.get("requested_datetime")),
        updated_datetime=_datetime(item.get("updated_datetime")),
        expected_datetime=_datetime(item.get("expected_datetime")),
        media_url=item.get("media_url"),
        stage=item.get("stage") if isinstance(item.get("stage"), str) else None,
    )
