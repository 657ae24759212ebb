"""The ledger (台账): the list of tickets with the weekly meeting's summaries, and its CSV export.

Staff only. Every handler gets its filters from `_filters()`, where the staff member's groups
narrow what they see (admins see all groups). Descriptions are masked here; whole numbers are
only on the ticket page (backend/ticket.py).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend import clock, deadlines, privacy
from backend.login import staff_page
from backend.pages import actor, local_time, render
from backend.records import SOURCES, Filters
from backend.reports import WEEKS_SHOWN, summarize, week_start_us
from common.status import OPEN_STAGES, STAGE_WORDS

PAGE_SIZE = 100
CSV_MAX_ROWS = 100_000
MAX_SEARCH = 100
AGE_CHOICES = {"3": "超过3天", "7": "超过7天", "30": "超过30天", "overdue": "已超期"}
PERIOD_CHOICES = {"new_week": "本周受理", "closed_week": "本周办结"}
ORDER_CHOICES = {"urgent": "超期优先", "newest": "最新受理", "oldest": "最早受理"}
# 未办结 is both open stages at once (已受理 and 处理中), as the weekly meeting counts them.
STAGE_CHOICES = {"open": "未办结", **STAGE_WORDS}


def _filters(request: Request, now: int) -> tuple[Filters, dict[str, str]]:
    """The filters of the query string within the staff member's scope, and the cleaned values
    to echo back into the form."""
    query = request.query_params
    state = request.app.state
    staff = request.state.session.staff

    def choice(name: str, allowed) -> str:
        return query.get(name, "") if query.get(name) in allowed else ""

    chosen = {
        "group": query.get("group", "").strip()[:200],
        "source": choice("source", SOURCES),
        # Tickets without a group are only in an admin's scope: nobody else could find any.
        "ungrouped": "1" if query.get("ungrouped") == "1" and staff.is_admin else "",
        "code": choice("code", state.config.services),
        "stage": choice("stage", STAGE_CHOICES),
        "overdue": choice("overdue", deadlines.WORDS),
        "age": choice("age", AGE_CHOICES),
        "period": choice("period", PERIOD_CHOICES),
        "order": choice("order", ORDER_CHOICES),
        "q": " ".join(query.get("q", "").split())[:MAX_SEARCH],
    }
    age, period = chosen["age"], chosen["period"]
    week_us = week_start_us(now, clock.utc_offset_us(state.config.timezone))
    filters = Filters(
        groups=[chosen["group"]] if chosen["group"] else None,
        sources=[chosen["source"]] if chosen["source"] else None,
        ungrouped=bool(chosen["ungrouped"]),
        scope=staff.scope,
        codes=[chosen["code"]] if chosen["code"] else None,
        stages=_stages(chosen["stage"]),
        start_us=week_us if period == "new_week" else None,
        end_us=clock.add_days(now, -int(age)) if age.isdigit() else None,
        overdue_at=now if age == "overdue" else None,
        mark=chosen["overdue"] or None,
        mark_at=now,
        closed_since_us=week_us if period == "closed_week" else None,
        search=chosen["q"] or None,
    )
    return filters, chosen


def _stages(chosen: str) -> list[str] | None:
    if not chosen:
        return None
    return list(OPEN_STAGES) if chosen == "open" else [chosen]


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    # Bounded: SQLite's OFFSET is a 64-bit integer and Python's int is not.
    return min(max(1, int(raw)), 1_000_000) if raw.isascii() and raw.isdigit() else 1


@staff_page
async def ledger_page(request: Request) -> Response:
    state = request.app.state
    now = clock.now_us()
    filters, chosen = _filters(request, now)
    page = _page(request)
    order = chosen["order"] or "urgent"
    rows = await state.db.find(filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, order=order, now_us=now)
    total = await state.db.count(filters)
    summary = await state.db.read(summarize, filters, now, clock.utc_offset_us(state.config.timezone))
    query = {k: v for k, v in chosen.items() if v}
    return render(request, "ledger.html", {
        "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "chosen": chosen, "summary": summary, "weeks_shown": WEEKS_SHOWN,
        "source_choices": SOURCES, "stage_choices": STAGE_CHOICES, "overdue_choices": deadlines.WORDS,
        "age_choices": AGE_CHOICES, "period_choices": PERIOD_CHOICES, "order_choices": ORDER_CHOICES,
        "query": urlencode(query), "csv_url": "/ledger.csv" + ("?" + urlencode(query) if query else ""),
        "filtered": any(v for k, v in chosen.items() if k != "order"),
    }, now_us=now)


CSV_HEADER = ["工单号", "群", "来源", "类别代码", "类别", "状态", "问题描述", "地址", "承办单位",
              "处理说明", "受理时间", "更新时间", "办理期限", "是否超期", "办结时间", "办结人",
              "居民评价", "图片"]


@staff_page
async def export_csv(request: Request) -> Response:
    state = request.app.state
    now = clock.now_us()
    filters, chosen = _filters(request, now)
    rows = await state.db.find(filters, limit=CSV_MAX_ROWS, order=chosen["order"] or "urgent", now_us=now)
    tz, services = state.config.timezone, state.config.services
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        service = services.get(row["service_code"])
        mark = deadlines.mark(row["status"], row["requested_us"], row["expected_us"], now)
        writer.writerow([_cell(value) for value in (
            row["ticket"], row["group_name"], SOURCES[row["source"]], row["service_code"],
            service.name if service else "", STAGE_WORDS[row["stage"]], privacy.mask(row["description"]),
            row["address_string"], row["agency_responsible"], row["status_notes"], local_time(row["requested_us"], tz),
            local_time(row["updated_us"], tz), local_time(row["expected_us"], tz), deadlines.WORDS[mark],
            local_time(row["closed_us"], tz), actor(row["closed_by"]), row["rating"], row["media_url"],
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


routes = [
    Route("/", ledger_page, methods=["GET"]),
    Route("/ledger.csv", export_csv, methods=["GET"]),
]
