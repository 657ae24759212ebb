"""The backend's ASGI application: Open311 routes, ledger routes, storage, error handling."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from backend import ledger, login, open311, resident_notes, ticket
from backend.config import BackendConfig
from backend.sessions import CookieSigner, LoginThrottle, load_secret
from backend.storage import Database
from backend.validation import ApiError

log = logging.getLogger("backend")


def create_app(config: BackendConfig, db_path: Path | str, api_keys: frozenset[str],
               secret: str | None = None) -> Starlette:
    """The application; the database opens on start-up and closes on shutdown.

    `secret` signs the staff's session cookies; by default it comes from $GRIDBOT_SESSION_SECRET or
    a file made beside the database (see backend/sessions.py).
    """

    @asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.db = await Database.open(db_path, config.ticket_prefix, config.timezone)
        try:
            yield
        finally:
            await app.state.db.close()

    app = Starlette(
        routes=[*open311.routes, *resident_notes.routes, *ledger.routes, *ticket.routes, *login.routes],
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.config = config
    app.state.api_keys = api_keys
    app.state.signer = CookieSigner(secret or load_secret(db_path))
    app.state.throttle = LoginThrottle(config.staff)
    return app


class SecurityHeaders:
    """Headers for the staff pages: no framing, no scripts, no caching of residents' data."""

    PAGE_HEADERS = [
        (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                kind = dict(headers).get(b"content-type", b"")
                if kind.startswith((b"text/html", b"text/csv")):
                    headers += self.PAGE_HEADERS
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def open311_error(status: int, description: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status, headers=headers)


async def _api_error(request: Request, exc: ApiError) -> Response:
    return open311_error(exc.status, exc.description)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    # Unknown paths and wrong methods: Open311 clients get the error array, browsers plain text.
    if request.url.path.endswith(".json"):
        return open311_error(exc.status_code, str(exc.detail), exc.headers)
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return open311_error(500, "internal error in the tracking backend; it has been logged")
