"""The backend's ASGI application: Open311 routes, ledger routes, storage, error handling."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from backend import ledger, open311
from backend.config import BackendConfig
from backend.storage import Database
from backend.validation import ApiError

log = logging.getLogger("backend")


def create_app(config: BackendConfig, db_path: Path | str, api_keys: frozenset[str]) -> Starlette:
    """The application; the database opens on start-up and closes on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.db = await Database.open(db_path, config.ticket_prefix, config.timezone)
        try:
            yield
        finally:
            await app.state.db.close()

    app = Starlette(
        routes=[*open311.routes, *ledger.routes],
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.config = config
    app.state.api_keys = api_keys
    return app


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
