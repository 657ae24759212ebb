"""What every staff page shares: the templates, the words for stages and roles, and the context
each template needs (times in the jurisdiction's zone, who is logged in, the form token)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from backend import clock, deadlines, privacy
from backend.accounts import ROLES
from backend.records import SOURCES
from common.status import STAGE_WORDS

ROBOT = "机器人接口"

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.filters["masked"] = privacy.mask
templates.env.filters["no_wechat_ids"] = privacy.hide_wechat_ids


def local_time(us: int | None, tz) -> str:
    return "" if us is None else clock.to_datetime(us, tz).strftime("%Y-%m-%d %H:%M")


def actor(changed_by: str | None) -> str:
    """Who made a change, as people read it: a staff member's label, or the robot for api clients."""
    if not changed_by:
        return ""
    return ROBOT if changed_by.startswith("api:") else changed_by


def common(request: Request, now_us: int) -> dict:
    """What every page's template needs to render times, names, ages and its forms."""
    config = request.app.state.config
    tz = config.timezone
    session = getattr(request.state, "session", None)

    def local(us: int | None) -> str:
        return local_time(us, tz)

    def age_days(us: int) -> int:
        return max(0, (now_us - us) // clock.US_PER_DAY)

    def mark(row: dict) -> str:
        return deadlines.mark(row["status"], row["requested_us"], row["expected_us"], now_us)

    return {
        "services": config.services, "stage_words": STAGE_WORDS, "source_words": SOURCES, "now_us": now_us,
        "local": local, "age_days": age_days, "actor": actor, "roles": ROLES,
        "mark": mark, "mark_words": deadlines.WORDS, "escalation_us": deadlines.escalation_us,
        "staff": session.staff if session else None,
        "csrf_token": session.csrf_token if session else "",
    }


def render(request: Request, name: str, context: dict, status_code: int = 200,
           now_us: int | None = None) -> Response:
    """The page; `now_us` is the moment its filters were judged at (ages and 超期 marks agree with them)."""
    now = clock.now_us() if now_us is None else now_us
    return templates.TemplateResponse(request, name, {**common(request, now), **context}, status_code=status_code)
