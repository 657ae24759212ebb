"""One ticket's page for staff: its facts in full, its audit trail, and the forms that change it
(stage, agency and notes, for the resident or not; category; for admins, the group of a ticket
that came without one).

A ticket outside the staff member's groups answers 404, exactly like one that does not exist.
Every change from a form is recorded with who made it, when, and what it changed from and to.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from backend import privacy
from backend.login import staff_form, staff_page
from backend.pages import actor, render
from backend.records import StatusChange
from backend.reports import assignable_groups
from backend.sessions import Session
from backend.validation import MAX_AGENCY, MAX_NOTES
from common.status import CLOSED, IN_PROGRESS, RETURNED, STAGE_WORDS, open311_status

# What staff may move a ticket to; 已受理 is where a ticket starts, never where staff put it.
FORM_STAGES = {stage: STAGE_WORDS[stage] for stage in (IN_PROGRESS, CLOSED, RETURNED)}
FORM_ERRORS = {
    "stage": "请选择状态：" + "、".join(FORM_STAGES.values()) + "。",
    "returned": "退回工单须在处理说明中写明退回原因。",
    "notes": "处理说明不能超过{limit}字（现在{n}字）。",
    "agency": "承办单位不能超过{limit}字。",
    "nothing": "没有需要保存的变更：请修改状态或承办单位，或填写处理说明。",
    "for_resident": "勾选「给居民」时，请在处理说明中写下要转告居民的话。",
    "admin_only": "只有管理员可以分派群。",
    "has_group": "该工单已属于「{group}」；只有未分派群的工单可以分派。",
    "group": "请从列表中选择要分派的群。",
    "category": "请从列表中选择类别。",
    "same_category": "类别没有变化：请选择另一个类别。",
}


@staff_page
async def ticket_page(request: Request) -> Response:
    return await _render(request, request.path_params["ticket"])


async def _render(request: Request, ticket: str, error: str | None = None, form: dict | None = None,
                  status_code: int = 400) -> Response:
    state = request.app.state
    session: Session = request.state.session
    rows = await state.db.get_many([ticket], scope=session.staff.scope)
    if not rows:
        return render(request, "missing.html", {"ticket": ticket}, status_code=404)
    history = await state.db.history(ticket)
    row = rows[0]
    assignable = row["group_name"] is None and session.staff.is_admin
    return render(request, "ticket.html", {
        "row": row, "reporter": privacy.reporter_label(row["reporter"]), "form_stages": FORM_STAGES,
        "groups": await state.db.read(assignable_groups) if assignable else None,
        "history": [_describe(entry, state.config.services) for entry in reversed(history)],
        "error": error, "form": form or {},
        "saved": request.query_params.get("saved") == "1",
    }, status_code=status_code if error else 200)


async def _in_scope(request: Request) -> tuple[str, dict | None]:
    """The ticket a form is about and its row, None when it is not in the staff member's scope."""
    ticket = request.path_params["ticket"]
    rows = await request.app.state.db.get_many([ticket], scope=request.state.session.staff.scope)
    return ticket, rows[0] if rows else None


def _saved(row: dict) -> Response:
    # Post/redirect/get: reloading the page must not submit the change a second time.
    return RedirectResponse(f"/tickets/{quote(row['ticket'])}?saved=1", status_code=303)


@staff_form
async def change_status_form(request: Request, form: dict) -> Response:
    session: Session = request.state.session
    ticket, current = await _in_scope(request)
    if current is None:
        return await _render(request, ticket)  # renders the 404 page
    change, error = _change(form, current, session)
    if error is not None:
        return await _render(request, ticket, error=error, form=form)
    row = await request.app.state.db.change_status(ticket, change, scope=session.staff.scope)
    if row is None:
        return await _render(request, ticket)
    return _saved(row)


@staff_form
async def change_category_form(request: Request, form: dict) -> Response:
    """Another category for a ticket: the same change as the bot's 改类 (storage's change_category),
    so the agency follows the category and the bot reads the new service_code when it polls."""
    state = request.app.state
    staff = request.state.session.staff
    ticket, current = await _in_scope(request)
    if current is None:
        return await _render(request, ticket)  # renders the 404 page
    service = state.config.services.get(form.get("service_code", ""))
    if service is None:
        return await _render(request, ticket, error=FORM_ERRORS["category"], form=form)
    if service.code == current["service_code"]:
        return await _render(request, ticket, error=FORM_ERRORS["same_category"], form=form)
    row = await state.db.change_category(ticket, service.code, service.agency, staff.label, None,
                                         staff_id=staff.id, scope=staff.scope)
    if row is None:
        return await _render(request, ticket)
    return _saved(row)


@staff_form
async def assign_group_form(request: Request, form: dict) -> Response:
    """An admin gives a ticket that came without a group (hotline, platform, web) to a group, whose
    grid managers then see it; the history says 分派到 <group>."""
    state = request.app.state
    staff = request.state.session.staff
    ticket, current = await _in_scope(request)
    if current is None:
        return await _render(request, ticket)  # renders the 404 page
    if not staff.is_admin:
        return await _render(request, ticket, error=FORM_ERRORS["admin_only"], status_code=403)
    if current["group_name"] is not None:
        return await _render(request, ticket, error=FORM_ERRORS["has_group"].format(group=current["group_name"]))
    group = form.get("group_name", "").strip()
    if group not in await state.db.read(assignable_groups):
        return await _render(request, ticket, error=FORM_ERRORS["group"], form=form)
    row = await state.db.assign_group(ticket, group, staff.label, staff.id)
    if row is None:  # another admin was quicker
        return await _render(request, ticket, error=FORM_ERRORS["has_group"].format(group="其他群"))
    return _saved(row)


def _change(form: dict[str, str], row: dict, session: Session) -> tuple[StatusChange | None, str | None]:
    """A status change from the ledger form, or the reason (in Chinese) it cannot be made."""
    stage = form.get("stage", "")
    notes = form.get("status_notes", "").strip()
    agency = form.get("agency_responsible", "").strip()
    if stage not in FORM_STAGES:
        return None, FORM_ERRORS["stage"]
    if len(notes) > MAX_NOTES:
        return None, FORM_ERRORS["notes"].format(limit=MAX_NOTES, n=len(notes))
    if len(agency) > MAX_AGENCY:
        return None, FORM_ERRORS["agency"].format(limit=MAX_AGENCY)
    for_resident = form.get("for_resident") == "1"
    if stage == RETURNED and not notes:
        return None, FORM_ERRORS["returned"]
    if for_resident and not notes:
        return None, FORM_ERRORS["for_resident"]
    if stage == row["stage"] and agency in ("", row["agency_responsible"]) and not notes:
        return None, FORM_ERRORS["nothing"]
    staff = session.staff
    return StatusChange(open311_status(stage), notes or None, agency or None, staff.label, staff_id=staff.id,
                        stage=stage, for_resident=for_resident), None


def _describe(entry: dict, services: dict) -> dict:
    """One line of the audit trail: what changed, from what to what."""
    def category(code: str) -> str:
        return services[code].name if code in services else code

    changes = []
    if entry["from_status"] is None:
        changes.append("受理")
    else:
        if entry["from_stage"] != entry["stage"]:
            changes.append(f"状态：{STAGE_WORDS[entry['from_stage']]} → {STAGE_WORDS[entry['stage']]}")
        if entry["group_name"] and entry["group_name"] != entry["from_group"]:
            changes.append(f"分派到 {entry['group_name']}")
        if entry["from_service_code"] and entry["service_code"] != entry["from_service_code"]:
            changes.append(f"类别：{category(entry['from_service_code'])} → {category(entry['service_code'])}")
        if entry["from_agency"] != entry["agency_responsible"]:
            changes.append(f"转派：{entry['from_agency'] or '（无）'} → {entry['agency_responsible']}")
    if entry["for_resident"]:
        changes.append("给居民（由网格助手转告）")
    if entry["from_resident"]:
        changes.append("居民回复")
    notes = entry["status_notes"]
    if entry["rating"]:
        changes.append(f"居民评价：{entry['rating']}")
        if notes == f"居民评价：{entry['rating']}":
            notes = None  # already said
    # The bot relays a resident's reply: the resident speaks, not the robot.
    who = "居民（网格助手转达）" if entry["from_resident"] else actor(entry["changed_by"])
    return {**entry, "changes": changes, "notes": notes, "who": who}


routes = [
    Route("/tickets/{ticket}", ticket_page, methods=["GET"]),
    Route("/tickets/{ticket}/status", change_status_form, methods=["POST"]),
    Route("/tickets/{ticket}/category", change_category_form, methods=["POST"]),
    Route("/tickets/{ticket}/group", assign_group_form, methods=["POST"]),
]
