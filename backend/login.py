"""Logging in and out of the ledger, and the declarations that guard its handlers.

`@staff_page` on a GET handler: it runs for a logged-in account; anyone else goes to the login page.
`@staff_form` on a POST handler: the same, and the form must carry the session's CSRF token; the
handler receives the form's fields. Handlers find the account in `request.state.session.staff`.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
from typing import Awaitable, Callable
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from backend import accounts, clock, sessions
from backend.pages import render
from backend.sessions import LOGIN_COOKIE, SESSION_COOKIE, Session
from backend.validation import ApiError, read_fields

log = logging.getLogger("backend.login")

MESSAGES = {
    "wrong": "用户名或密码错误。",
    "throttled": "登录失败次数过多，请{minutes}分钟后再试。",
    "expired": "登录已超时，请重新登录。",
    "stale": "登录页已过期，请重新输入。",
    "out": "您已退出登录。",
}


async def current_session(request: Request) -> tuple[Session | None, bool]:
    """The live session, and whether the request named one that has ended (so the page can say so)."""
    state = request.app.state
    session_id = state.signer.unsign(request.cookies.get(SESSION_COOKIE))
    if session_id is None:
        return None, SESSION_COOKIE in request.cookies
    id_hash = sessions.hash_id(session_id)
    session = await state.db.read(sessions.find, id_hash)
    if session is None:
        return None, True
    now = clock.now_us()
    if session.expired(now, state.config.staff):
        await state.db.write(sessions.end, id_hash)
        return None, True
    if session.due_for_touch(now, state.config.staff):
        await state.db.write(sessions.touch, id_hash)
    return session, False


def staff_page(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        session, ended = await current_session(request)
        if session is None:
            return _to_login(request, request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                             ended)
        request.state.session = session
        return await handler(request)

    return guarded


def staff_form(handler: Callable[[Request, dict], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        session, ended = await current_session(request)
        if session is None:
            return _to_login(request, _referring_path(request), ended)
        try:
            form = await read_fields(request)
        except ApiError:
            form = {}
        if not session.csrf_ok(form.get("csrf_token")):
            log.warning("refused a form without a valid CSRF token: %s %s", request.method, request.url.path)
            request.state.session = session
            return render(request, "refused.html", {}, status_code=403)
        request.state.session = session
        return await handler(request, form)

    return guarded


async def login_page(request: Request, message: str | None = None, status_code: int = 200,
                     username: str = "", next_path: str | None = None) -> Response:
    session, _ = await current_session(request)
    next_path = _safe_next(next_path or request.query_params.get("next"))
    if session is not None and message is None:
        return RedirectResponse(next_path, status_code=303)
    notice = message or MESSAGES.get(request.query_params.get("notice", ""))
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", {
        "message": notice, "is_error": status_code >= 400 or request.query_params.get("notice") == "expired",
        "next": next_path, "login_token": token, "username": username,
    }, status_code=status_code)
    response.set_cookie(LOGIN_COOKIE, request.app.state.signer.sign(token), max_age=3600, path="/login",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


async def login(request: Request) -> Response:
    state = request.app.state
    try:
        form = await read_fields(request)
    except ApiError:
        form = {}
    username = form.get("username", "").strip()[:64]
    password = form.get("password", "")[:accounts.MAX_PASSWORD + 1]
    expected = state.signer.unsign(request.cookies.get(LOGIN_COOKIE)) or ""
    given = form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return await login_page(request, MESSAGES["stale"], 403, username, form.get("next"))
    address = request.client.host if request.client else "unknown"
    throttle = state.throttle
    if not throttle.begin(username, address):
        log.warning("login refused (too many failures) from %s", address)
        return await login_page(request, MESSAGES["throttled"].format(minutes=throttle.window_minutes), 429,
                                next_path=form.get("next"))
    record = await state.db.read(accounts.login_record, username)
    if record is None:
        await asyncio.to_thread(accounts.verify_absent, password)
        ok = False
    else:
        ok = await asyncio.to_thread(accounts.verify_password, record[1], password)
    if not ok:
        # The name only when it is an account: a password typed into the name field stays out of logs.
        log.warning("failed login for %s from %s", record[0].username if record else "an unknown name", address)
        return await login_page(request, MESSAGES["wrong"], 401, username, form.get("next"))
    staff, password_hash = record
    throttle.succeeded(username, address)
    if accounts.needs_rehash(password_hash):
        await state.db.write(accounts.store_rehash, staff.id, await asyncio.to_thread(accounts.rehash, password))
    session_id = await state.db.write(sessions.start, staff.id, state.config.staff)
    log.info("login: %s from %s", staff.username, address)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(SESSION_COOKIE, state.signer.sign(session_id), path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@staff_form
async def logout(request: Request, form: dict) -> Response:
    session: Session = request.state.session
    await request.app.state.db.write(sessions.end, session.id_hash)
    log.info("logout: %s", session.staff.username)
    response = RedirectResponse("/login?notice=out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _to_login(request: Request, next_path: str, ended: bool) -> Response:
    target = "/login?next=" + quote(_safe_next(next_path), safe="/")
    if ended:
        target += "&notice=expired"
    response = RedirectResponse(target, status_code=303)
    if ended:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _referring_path(request: Request) -> str:
    """Where a refused form came from, so that logging in again leads back there."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return referer.path + (f"?{referer.query}" if referer.query else "") if referer.path else "/"


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never //host or a scheme, so a crafted link cannot send staff away."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or len(value) > 2000:
        return "/"
    if any(ch in value for ch in "\r\n\t\\") or urlsplit(value).netloc:
        return "/"
    return value


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
