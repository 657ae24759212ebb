"""The http channel: reports from outside the WeChat groups (渠道全畅通).

- The intake API for the 政务服务平台 and the 24-hour 民情热线: `POST /v1/messages` with a bearer
  token (from the environment variable `http.token_env`) and a JSON report → `202 {"id": …}`;
  `GET /v1/messages/{id}` → where it stands. An operator's or an ASR system's transcript takes the
  same path as a chat message (emergencies, classification, merging with an open ticket of the
  same place and category) through the same store and outbox: nothing accepted is lost. The
  caller's `id` (or an `Idempotency-Key` header) makes a repeat the same report. The description
  is served at `/v1/openapi.json`.
- The residents' web form at `/report` (one Chinese mobile page, CSRF-safe, rate-limited per
  address), answering with the ticket number and a status link.

Served by uvicorn inside the bot's event loop, like the backend's Starlette app.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import time
import uuid
from collections import defaultdict, deque
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from html import escape

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import replies
from bot.config import ConfigError
from bot.messages import REPORT_SOURCES, IncomingMessage, Reply
from common import status as words

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
MAX_TEXT = 20_000
FORM_WAIT_SECONDS = 3.0      # the form waits this long for the ticket number before showing the status page
ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,30}$")


class BadInput(Exception):
    """A report the API refuses: an HTTP status, a code, and the reason in English and Chinese."""

    def __init__(self, status: int, code: str, message: str, message_zh: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.message_zh, self.field = status, code, message, message_zh, field

    def response(self) -> JSONResponse:
        error = {"code": self.code, "message": self.message, "message_zh": self.message_zh}
        if self.field:
            error["field"] = self.field
        headers = {"WWW-Authenticate": 'Bearer realm="gridbot"'} if self.status == 401 else None
        return JSONResponse({"error": error}, status_code=self.status, headers=headers)


def message_key(source: str, caller_id: str) -> str:
    """The report's id: opaque and stable for the caller's id, so a repeat is the same message."""
    return "http-" + hashlib.sha256(f"{source}\0{caller_id}".encode()).hexdigest()[:24]


class HttpChannel:
    def __init__(self, settings, store, names: dict[str, str]):
        self.settings, self.store, self.names = settings, store, names
        self.options = settings.http
        self._token = self.options.token()           # a missing token stops start-up (ConfigError)
        self._on_message = None
        self._server: uvicorn.Server | None = None
        self._form_posts: dict[str, deque] = defaultdict(deque)
        self.app = Starlette(routes=[
            Route("/v1/messages", self.post_message, methods=["POST"]),
            Route("/v1/messages/{id}", self.get_message, methods=["GET"]),
            Route("/v1/openapi.json", self.openapi, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/healthz", self.health, methods=["GET"]),
            *([Route("/report", self.form, methods=["GET"]),
               Route("/report", self.form_post, methods=["POST"]),
               Route("/report/status/{id}", self.form_status, methods=["GET"])] if self.options.form else []),
        ])

    # -- the Channel protocol --------------------------------------------------------------

    def owns(self, reply: Reply) -> bool:
        """Replies to someone who reported through this channel stay here (the caller reads them)."""
        return reply.group_id is None and bool(reply.to_id) and reply.to_id.split(":", 1)[0] in REPORT_SOURCES

    async def send(self, reply: Reply) -> None:
        return None  # kept in the store with its message; GET /v1/messages/{id} and the status page show it

    async def run(self, on_message) -> None:
        self._on_message = on_message
        _check_free(self.options.host, self.options.port)
        config = uvicorn.Config(self.app, host=self.options.host, port=self.options.port, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = _QuietServer(config)
        log.info("http channel on http://%s:%d (intake API /v1/messages%s)", self.options.host, self.options.port,
                 ", form /report" if self.options.form else "")
        await self._server.serve()
        if not self._server.started:
            raise OSError(f"http channel: cannot listen on {self.options.host}:{self.options.port}")
        await asyncio.Event().wait()  # the server stopped on request: wait to be cancelled

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    # -- the intake API ----------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._token.encode()):
            raise BadInput(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required",
                           "需要有效的访问令牌（Authorization: Bearer …）")

    async def post_message(self, request: Request) -> Response:
        try:
            self._authorize(request)
            body = await _json_body(request)
            msg = self._report(body, request.headers.get("idempotency-key"))
            return await self._accept(msg)
        except BadInput as exc:
            return exc.response()

    async def _accept(self, msg: IncomingMessage) -> JSONResponse:
        existing = await self.store.message(msg.message_id)
        if existing is not None and (existing["text"] != msg.text or existing["sender_id"] != msg.sender_id):
            raise BadInput(409, "id_reused", "this id was already used for a different report",
                           "该编号已用于另一条不同的反映", "id")
        if existing is None:
            await self._on_message(msg)  # stored before anything else; then the steps run
        return JSONResponse({"id": msg.message_id}, status_code=202)

    def _report(self, body, idempotency_key: str | None) -> IncomingMessage:
        if not isinstance(body, dict):
            raise BadInput(400, "invalid_body", "the body must be a JSON object", "请求体必须是 JSON 对象")
        unknown = sorted(set(body) - {"id", "source", "reporter", "text", "place", "group", "time"})
        if unknown:
            raise BadInput(422, "unknown_field", f"unknown field {unknown[0]!r}", f"不认识的字段 {unknown[0]}", unknown[0])
        source = body.get("source")
        if source not in REPORT_SOURCES:
            raise BadInput(422, "invalid_source", f"source must be one of {', '.join(REPORT_SOURCES)}",
                           "source 必须是 hotline（热线）、platform（政务平台）或 web（网页）之一", "source")
        reporter = body.get("reporter")
        if not isinstance(reporter, dict):
            raise BadInput(422, "missing_reporter", "reporter must be an object {id, name, phone?}",
                           "缺少反映人信息 reporter：{id, name, phone}", "reporter")
        extra = sorted(set(reporter) - {"id", "name", "phone"})
        if extra:
            raise BadInput(422, "unknown_field", f"unknown field reporter.{extra[0]}", f"不认识的字段 reporter.{extra[0]}",
                           f"reporter.{extra[0]}")
        reporter_id = _text(_number_as_text(reporter.get("id")), "reporter.id", 128, "反映人编号")
        if not ID.match(reporter_id):
            raise BadInput(422, "invalid_field", "reporter.id may hold letters, digits and . _ : @ - only",
                           "反映人编号只能包含字母、数字和 . _ : @ -", "reporter.id")
        name = _text(reporter.get("name"), "reporter.name", 64, "反映人姓名")
        phone = reporter.get("phone")
        if phone is not None:
            phone = _text(_number_as_text(phone), "reporter.phone", 32, "联系电话")
            if not PHONE.match(phone):
                raise BadInput(422, "invalid_field", "reporter.phone is not a phone number",
                               "联系电话格式不对", "reporter.phone")
        text = _text(body.get("text"), "text", MAX_TEXT, "反映内容")
        place = body.get("place")
        if place is not None:
            place = _text(place, "place", 200, "地点")
        group = body.get("group")
        if group is not None:
            group = _text(group, "group", 100, "所属群")
            if self.settings.group(group) is None:
                raise BadInput(422, "unknown_group", f"group {group!r} is not one of the configured groups",
                               f"没有名为「{group}」的群（见配置 groups）", "group")
        when = self._time(body.get("time"))
        caller_id = _number_as_text(body.get("id", idempotency_key))
        if caller_id is not None:
            caller_id = _text(caller_id, "id", 128, "编号")
            if not ID.match(caller_id):
                raise BadInput(422, "invalid_field", "id may hold letters, digits and . _ : @ - only",
                               "编号只能包含字母、数字和 . _ : @ -", "id")
        key = message_key(source, caller_id or uuid.uuid4().hex)
        return IncomingMessage(message_id=key, group_id=None, group_name=group, sender_id=f"{source}:{reporter_id}",
                               sender_name=name, text=text, time=when, in_group=False, source=source, place=place,
                               phone=phone)

    def _time(self, value) -> datetime:
        now = datetime.now(timezone.utc)
        if value is None:
            return now
        if not isinstance(value, str):
            raise BadInput(422, "invalid_time", "time must be an ISO 8601 string", "time 必须是 ISO 8601 时间", "time")
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(422, "invalid_time", f"time {value!r} is not ISO 8601 (e.g. 2026-12-03T09:30:00+08:00)",
                           "time 不是 ISO 8601 时间，例如 2026-12-03T09:30:00+08:00", "time") from None
        when = when if when.tzinfo else when.replace(tzinfo=self.settings.zone)
        if when > now + timedelta(minutes=10):
            raise BadInput(422, "invalid_time", "time is in the future", "time 晚于当前时间", "time")
        return when

    async def get_message(self, request: Request) -> Response:
        try:
            self._authorize(request)
            found = await self.describe(request.path_params["id"])
        except BadInput as exc:
            return exc.response()
        if found is None:
            return BadInput(404, "not_found", "no report with this id", "没有这个编号的反映").response()
        return JSONResponse(found)

    async def describe(self, key: str) -> dict | None:
        """Where a report stands, as the API and the status page show it."""
        row = await self.store.message(key)
        if row is None or row["source"] not in REPORT_SOURCES:
            return None
        ticket = await self.store.one("SELECT * FROM tickets WHERE id = ?", (row["ticket_id"],)) \
            if row["ticket_id"] is not None else None
        said = await self.store.all("SELECT text FROM replies WHERE message_key = ? AND to_id = ? ORDER BY id",
                                    (key, row["sender_id"]))
        state = _api_state(row, ticket)
        category = ticket["category"] if ticket else row["label"] if row["label"] not in (None, "none") else None
        number = ticket["service_request_id"] if ticket else None
        word = replies.ticket_word(ticket) if ticket is not None else None
        return {
            "id": key, "source": row["source"], "received_at": row["received_at"], "state": state,
            "category": category, "category_name": self.names.get(category) if category else None,
            "ticket": number, "status": word,
            "stage": words.stage_of(ticket["status"], ticket["status_notes"], ticket["stage"]) if number else None,
            "emergency": ticket["emergency"] if ticket else None,
            "replies": [r["text"] for r in said],
        }

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(OPENAPI)

    # -- the residents' web form -------------------------------------------------------------

    async def form(self, request: Request, error: str | None = None, values: dict | None = None,
                   status_code: int = 200) -> Response:
        token = request.cookies.get("gb_csrf") or secrets.token_urlsafe(24)
        page = _form_page(token, error, values or {})
        response = HTMLResponse(page, status_code=status_code, headers=_PAGE_HEADERS)
        response.set_cookie("gb_csrf", token, httponly=True, samesite="strict", max_age=3600,
                            secure=request.url.scheme == "https")
        return response

    async def form_post(self, request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return HTMLResponse(_message_page("内容太长", "请精简后再提交。"), status_code=413, headers=_PAGE_HEADERS)
        form = await request.form()
        values = {k: str(form.get(k) or "").strip() for k in ("text", "place", "phone", "name")}
        cookie, given = request.cookies.get("gb_csrf"), str(form.get("csrf") or "")
        origin = request.headers.get("origin")
        if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()) or \
                origin is not None and origin not in self._origins(request):
            return HTMLResponse(_message_page("页面已过期", "请刷新页面后重新提交。"), status_code=403,
                                headers=_PAGE_HEADERS)
        address = request.client.host if request.client else "unknown"
        if not self._allow(address):
            return HTMLResponse(_message_page("提交太频繁", "同一网络一小时内提交次数已达上限，请稍后再试，"
                                              "紧急情况请直接拨打 110 / 119 / 120。"), status_code=429,
                                headers={**_PAGE_HEADERS, "Retry-After": "3600"})
        problems = []
        if len(values["text"]) < 5:
            problems.append("请写明遇到的问题（至少 5 个字）。")
        if len(values["text"]) > 2000 or len(values["place"]) > 200 or len(values["name"]) > 30:
            problems.append("内容太长，请精简。")
        if values["phone"] and not PHONE.match(values["phone"]):
            problems.append("联系电话格式不对。")
        if problems:
            return await self.form(request, "".join(problems), values, 422)
        browser = request.cookies.get("gb_rid") or secrets.token_hex(12)
        key = message_key("web", uuid.uuid4().hex)
        msg = IncomingMessage(message_id=key, group_id=None, group_name=None, sender_id=f"web:{browser}",
                              sender_name=values["name"] or "网页用户", text=values["text"], in_group=False,
                              source="web", place=values["place"] or None, phone=values["phone"] or None)
        await self._on_message(msg)
        deadline = time.monotonic() + FORM_WAIT_SECONDS
        while time.monotonic() < deadline:  # the outbox is woken: the number usually comes within ms
            found = await self.describe(key)
            if found and (found["ticket"] or found["state"] not in ("received", "filing")):
                break
            await asyncio.sleep(0.1)
        response = RedirectResponse(f"/report/status/{key}", status_code=303, headers=_PAGE_HEADERS)
        response.set_cookie("gb_rid", browser, httponly=True, samesite="strict", max_age=365 * 86400,
                            secure=request.url.scheme == "https")
        return response

    def _origins(self, request: Request) -> set[str]:
        """Where the form may be posted from: this server, or the public address residents use."""
        allowed = {f"{request.url.scheme}://{request.url.netloc}"}
        if self.options.public_url:
            found = re.match(r"^(https?://[^/]+)", self.options.public_url)
            if found:
                allowed.add(found.group(1))
        return allowed

    def _allow(self, address: str) -> bool:
        now = time.monotonic()
        posts = self._form_posts[address]
        while posts and now - posts[0] > 3600:
            posts.popleft()
        if len(posts) >= self.options.form_per_hour:
            return False
        posts.append(now)
        if len(self._form_posts) > 10_000:  # forget quiet addresses
            for quiet in [a for a, p in self._form_posts.items() if not p]:
                del self._form_posts[quiet]
        return True

    async def form_status(self, request: Request) -> Response:
        found = await self.describe(request.path_params["id"])
        if found is None or found["source"] != "web":
            return HTMLResponse(_message_page("没有找到", "这个链接不对或已失效。"), status_code=404, headers=_PAGE_HEADERS)
        return HTMLResponse(_status_page(found), headers=_PAGE_HEADERS)


def _check_free(host: str, port: int) -> None:
    """A port someone else holds is a clear start-up error, not uvicorn exiting the process."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError("http.port", f"cannot listen on {host}:{port} ({exc.strerror}): another program "
                              f"holds it (see `ss -ltnp`), or choose another port") from None


class _QuietServer(uvicorn.Server):
    """uvicorn inside the bot's loop: the bot, not uvicorn, handles SIGINT and SIGTERM."""

    @contextmanager
    def capture_signals(self):
        yield


async def _json_body(request: Request):
    if not request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        raise BadInput(415, "unsupported_media_type", "send JSON with Content-Type: application/json",
                       "请以 JSON 提交（Content-Type: application/json）")
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise BadInput(413, "too_large", f"the body is larger than {MAX_BODY} bytes", "请求体过大")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadInput(413, "too_large", f"the body is larger than {MAX_BODY} bytes", "请求体过大")
    try:
        return json.loads(raw.decode("utf-8-sig"))  # a byte-order mark from some Windows clients is fine
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadInput(400, "invalid_json", "the body is not valid UTF-8 JSON", "请求体不是有效的 JSON") from None


def _number_as_text(value):
    """Ids and phone numbers some systems send as JSON numbers (12345) are read as their digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _text(value, field: str, limit: int, zh: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(422, "missing_field", f"{field} must be a non-empty string", f"缺少{zh}（{field}）", field)
    value = value.strip()
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value) or "\x00" in value:
        raise BadInput(422, "invalid_field", f"{field} holds characters that are not text", f"{zh}含有无效字符", field)
    if len(value) > limit:
        raise BadInput(422, "too_long", f"{field} is longer than {limit} characters", f"{zh}超过 {limit} 个字", field)
    return value


def _api_state(row, ticket) -> str:
    if ticket is None:
        return "received" if row["state"] in ("received", "classified") else "not_a_complaint"
    if ticket["message_key"] != row["key"]:
        return "joined"  # the same problem was already on a ticket: this report joined it
    return {"queued": "filing", "open": "ticket", "closed": "closed", "awaiting": "awaiting_review",
            "asking": "awaiting_review", "failed": "awaiting_review", "rejected": "rejected"}.get(ticket["state"],
                                                                                                 ticket["state"])


# -- pages -------------------------------------------------------------------------------------

_PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                            "frame-ancestors 'none'"}

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.6 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
background:#f4f6f8;color:#1d2329}main{max-width:560px;margin:0 auto;padding:16px}
h1{font-size:20px;margin:8px 0 4px}p.lead{color:#5b6670;margin:0 0 16px;font-size:14px}
form,.card{background:#fff;border-radius:10px;padding:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
label{display:block;font-weight:600;margin:12px 0 4px}label small{font-weight:400;color:#7a858f}
textarea,input{width:100%;font:inherit;padding:10px;border:1px solid #c9d1d8;border-radius:8px;background:#fff}
textarea{min-height:140px;resize:vertical}button{margin-top:16px;width:100%;padding:12px;font:inherit;
font-weight:600;color:#fff;background:#1f7a4d;border:0;border-radius:8px}
.error{background:#fdecea;color:#a32018;padding:10px;border-radius:8px;margin-bottom:12px}
.urgent{font-size:13px;color:#a32018;margin-top:12px}.num{font-size:22px;font-weight:700;word-break:break-all}
dt{color:#5b6670;font-size:14px;margin-top:10px}dd{margin:0;word-break:break-all}
"""


def _page(title: str, body: str, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{meta}'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>")


def _form_page(token: str, error: str | None, values: dict) -> str:
    v = {k: escape(values.get(k, "")) for k in ("text", "place", "phone", "name")}
    problem = f'<div class="error" role="alert">{escape(error)}</div>' if error else ""
    return _page("反映问题", f"""<h1>反映问题</h1>
<p class="lead">不在小区微信群里也可以在这里反映。提交后会给您工单号，可以随时查看办理进度。</p>
<form method="post" action="/report">{problem}
<input type="hidden" name="csrf" value="{escape(token)}">
<label for="text">遇到了什么问题</label>
<textarea id="text" name="text" required maxlength="2000" placeholder="例如：3栋2单元楼道灯坏了一个星期了">{v["text"]}</textarea>
<label for="place">地点 <small>（选填，例如：3栋2单元、人民路口）</small></label>
<input id="place" name="place" maxlength="200" value="{v["place"]}">
<label for="phone">联系电话 <small>（选填，方便网格员回访，不会公开）</small></label>
<input id="phone" name="phone" type="tel" maxlength="32" value="{v["phone"]}">
<label for="name">怎么称呼您 <small>（选填）</small></label>
<input id="name" name="name" maxlength="30" value="{v["name"]}">
<button type="submit">提交</button>
<p class="urgent">火灾、燃气泄漏、有人受伤等紧急情况请直接拨打 119 / 120 / 110。</p>
</form>""")


def _status_page(found: dict) -> str:
    waiting = found["state"] in ("received", "filing")
    if found["ticket"]:
        head = f'<dt>工单号</dt><dd class="num">{escape(found["ticket"])}</dd><dt>状态</dt><dd>{escape(found["status"])}</dd>'
    elif found["state"] == "awaiting_review":
        head = "<dt>状态</dt><dd>已收到，网格员核实后登记工单</dd>"
    elif found["state"] in ("not_a_complaint", "rejected"):
        head = "<dt>状态</dt><dd>已收到，经核实不需要登记工单</dd>"
    else:
        head = "<dt>状态</dt><dd>已收到，正在登记工单…</dd>"
    category = f'<dt>类别</dt><dd>{escape(found["category_name"])}</dd>' if found.get("category_name") else ""
    said = "".join(f"<p>{escape(text)}</p>" for text in found["replies"][-3:])
    return _page("办理进度", f"""<h1>办理进度</h1>
<p class="lead">请保存本页链接，随时查看进度。</p>
<div class="card"><dl>{head}{category}</dl>{said}</div>
<p class="urgent">紧急情况请直接拨打 119 / 120 / 110。</p>""", refresh=waiting)


def _message_page(title: str, text: str) -> str:
    return _page(title, f'<h1>{escape(title)}</h1><div class="card"><p>{escape(text)}</p>'
                        f'<p><a href="/report">返回</a></p></div>')


# -- the OpenAPI description -------------------------------------------------------------------

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "message_zh"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "message_zh": {"type": "string"},
                   "field": {"type": "string"}}}}}
OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "gridbot intake API", "version": "1",
             "description": "Reports from the 政务服务平台, the 24-hour hotline and the web form enter the same "
                            "pipeline as WeChat group messages: emergencies, classification, merging with an "
                            "open ticket of the same place and category, then a ticket in the tracking backend."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Report": {"type": "object", "additionalProperties": False, "required": ["source", "reporter", "text"],
                       "properties": {
                           "id": {"type": "string", "pattern": ID.pattern,
                                  "description": "the caller's own id: a repeat with the same id is the same report"},
                           "source": {"type": "string", "enum": list(REPORT_SOURCES)},
                           "reporter": {"type": "object", "additionalProperties": False, "required": ["id", "name"],
                                        "properties": {"id": {"type": "string", "pattern": ID.pattern},
                                                       "name": {"type": "string", "maxLength": 64},
                                                       "phone": {"type": "string", "pattern": PHONE.pattern}}},
                           "text": {"type": "string", "maxLength": MAX_TEXT,
                                    "description": "what the resident said: an operator's or an ASR transcript"},
                           "place": {"type": "string", "maxLength": 200},
                           "group": {"type": "string", "description": "a configured group's name; without one, "
                                                                      "an admin assigns the ticket on the ledger"},
                           "time": {"type": "string", "format": "date-time"}}},
            "Accepted": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
            "Status": {"type": "object", "properties": {
                "id": {"type": "string"}, "source": {"type": "string"}, "received_at": {"type": "string"},
                "state": {"type": "string", "enum": ["received", "filing", "ticket", "closed", "joined",
                                                     "awaiting_review", "rejected", "not_a_complaint"]},
                "category": {"type": ["string", "null"]}, "category_name": {"type": ["string", "null"]},
                "ticket": {"type": ["string", "null"], "description": "the tracking backend's ticket number"},
                "status": {"type": ["string", "null"], "description": "已受理 / 处理中 / 已办结 / 已退回"},
                "stage": {"type": ["string", "null"], "enum": [*words.STAGES, None]},
                "emergency": {"type": ["string", "null"]},
                "replies": {"type": "array", "items": {"type": "string"},
                            "description": "what the bot answered, e.g. the emergency number to give the caller"}}},
            "Error": _ERROR,
        }},
    "security": [{"bearer": []}],
    "paths": {
        "/v1/messages": {"post": {
            "summary": "Take a report", "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                                        "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Report"}}}},
            "responses": {
                "202": {"description": "accepted: stored, and on its way through the pipeline",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
                **{code: {"description": what, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}} for code, what in (
                    ("400", "not JSON"), ("401", "no valid bearer token"), ("409", "the id was used for another report"),
                    ("413", "too large"), ("415", "not application/json"), ("422", "a field is missing or wrong"))}}}},
        "/v1/messages/{id}": {"get": {
            "summary": "Where a report stands",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "its state", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Status"}}}},
                "401": {"description": "no valid bearer token"}, "404": {"description": "no such report"}}}},
    },
}
