"""The ledger (台账): server-rendered pages for grid managers, and CSV export.

Open to anyone who can reach the port for now; staff login, CSRF and per-group scope come later
(issue 9). They fit in here: every handler gets its filters from `_filters()`, the one place where
a staff member's groups will narrow what they see, and every change goes through `_change()`.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from backend import clock
from backend.reports import summarize
from backend.storage import Filters, StatusChange
from backend.validation import MAX_AGENCY, MAX_NOTES, ApiError, read_fields

PAGE_SIZE = 100
CSV_MAX_ROWS = 100_000
STATUS_NAMES = {"open": "处理中", "closed": "已办结"}
AGE_CHOICES = {"3": "超过3天", "7": "超过7天", "30": "超过30天", "overdue": "已超期"}
LEDGER_EDITOR = "台账"

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def _filters(request: Request) -> tuple[Filters, dict[str, str]]:
    """The filters of the query string, and the cleaned values to echo back into the form."""
    query = request.query_params
    config = request.app.state.config
    chosen = {
        "group": query.get("group", ""),
        "code": query.get("code", "") if query.get("code") in config.services else "",
        "status": query.get("status", "") if query.get("status") in STATUS_NAMES else "",
        "age": query.get("age", "") if query.get("age") in AGE_CHOICES else "",
    }
    now = clock.now_us()
    age = chosen["age"]
    filters = Filters(
        groups=[chosen["group"]] if chosen["group"] else None,
        codes=[chosen["code"]] if chosen["code"] else None,
        statuses=[chosen["status"]] if chosen["status"] else None,
        end_us=clock.add_days(now, -int(age)) if age.isdigit() else None,
        overdue_at=now if age == "overdue" else None,
    )
    return filters, chosen


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    # Bounded: SQLite's OFFSET is a 64-bit integer and Python's int is not.
    return min(max(1, int(raw)), 1_000_000) if raw.isascii() and raw.isdigit() else 1


async def ledger_page(request: Request) -> Response:
    state = request.app.state
    filters, chosen = _filters(request)
    page = _page(request)
    now = clock.now_us()
    rows = await state.db.find(filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    total = await state.db.count(filters)
    summary = await state.db.read(summarize, filters, now, clock.utc_offset_us(state.config.timezone))
    query = {k: v for k, v in chosen.items() if v}
    return templates.TemplateResponse(request, "ledger.html", {
        **_common(request, now),
        "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "chosen": chosen, "summary": summary, "age_choices": AGE_CHOICES,
        "query": urlencode(query), "csv_url": "/ledger.csv" + ("?" + urlencode(query) if query else ""),
    })


async def ticket_page(request: Request, error: str | None = None, form: dict | None = None) -> Response:
    state = request.app.state
    ticket = request.path_params["ticket"]
    rows = await state.db.get_many([ticket])
    if not rows:
        return templates.TemplateResponse(
            request, "missing.html", {**_common(request, clock.now_us()), "ticket": ticket}, status_code=404
        )
    history = await state.db.history(ticket)
    return templates.TemplateResponse(request, "ticket.html", {
        **_common(request, clock.now_us()),
        "row": rows[0], "history": list(reversed(history)), "error": error, "form": form or {},
        "saved": request.query_params.get("saved") == "1",
    }, status_code=400 if error else 200)


async def change_status_form(request: Request) -> Response:
    ticket = request.path_params["ticket"]
    try:
        # The same reader as the API: UTF-8 whether or not the client percent-encoded it.
        form = await read_fields(request)
    except ApiError:
        return await ticket_page(request, error="提交的内容过大或格式不对，请刷新页面后重试。")
    change, error = _change(form)
    if error is not None:
        return await ticket_page(request, error=error, form=form)
    row = await request.app.state.db.change_status(ticket, change)
    if row is None:
        return await ticket_page(request)  # renders the 404 page
    # Post/redirect/get: reloading the page must not submit the change a second time.
    return RedirectResponse(f"/tickets/{quote(row['ticket'])}?saved=1", status_code=303)


def _change(form: dict[str, str]) -> tuple[StatusChange | None, str | None]:
    """A status change from the ledger form, or the reason (in Chinese) it cannot be made."""
    status = form.get("status", "")
    notes = form.get("status_notes", "").strip()
    agency = form.get("agency_responsible", "").strip()
    if status not in STATUS_NAMES:
        return None, "请选择状态：处理中或已办结。"
    if len(notes) > MAX_NOTES:
        return None, f"处理说明不能超过{MAX_NOTES}字（现在{len(notes)}字）。"
    if len(agency) > MAX_AGENCY:
        return None, f"承办单位不能超过{MAX_AGENCY}字。"
    return StatusChange(status, notes or None, agency or None, LEDGER_EDITOR), None


CSV_HEADER = ["工单号", "群", "类别代码", "类别", "状态", "问题描述", "地址", "承办单位",
              "处理说明", "受理时间", "更新时间", "办理期限", "图片"]


async def export_csv(request: Request) -> Response:
    state = request.app.state
    filters, chosen = _filters(request)
    rows = await state.db.find(filters, limit=CSV_MAX_ROWS)
    tz, services = state.config.timezone, state.config.services
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        service = services.get(row["service_code"])
        writer.writerow([_cell(value) for value in (
            row["ticket"], row["group_name"], row["service_code"], service.name if service else "",
            STATUS_NAMES[row["status"]], row["description"], row["address_string"],
            row["agency_responsible"], row["status_notes"], _local(row["requested_us"], tz),
            _local(row["updated_us"], tz), _local(row["expected_us"], tz), row["media_url"],
        )])
    name = f"ledger-{date.today():%Y%m%d}.csv"
    # The BOM makes Excel, which grid offices open CSV files with, read the file as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # Residents write the descriptions: a leading = + - @ would run as a formula in a spreadsheet.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _local(us: int | None, tz) -> str:
    return "" if us is None else clock.to_datetime(us, tz).strftime("%Y-%m-%d %H:%M")


def _common(request: Request, now_us: int) -> dict:
    """What every page's template needs to render times, names and ages."""
    config = request.app.state.config
    tz = config.timezone

    def local(us: int | None) -> str:
        return _local(us, tz)

    def age_days(us: int) -> int:
        return max(0, (now_us - us) // clock.US_PER_DAY)

    return {
        "services": config.services, "status_names": STATUS_NAMES, "now_us": now_us,
        "local": local, "age_days": age_days,
    }


routes = [
    Route("/", ledger_page, methods=["GET"]),
    Route("/ledger.csv", export_csv, methods=["GET"]),
    Route("/tickets/{ticket}", ticket_page, methods=["GET"]),
    Route("/tickets/{ticket}/status", change_status_form, methods=["POST"]),
]
