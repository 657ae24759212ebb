"""Who may use the ledger, over plain HTTP: login, sessions, CSRF, the failed-login limit, per-group
scope (another group's ticket is 404), and the api_key that machine clients keep using."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest

from backend.process import BackendProcess
from bot.tracker import TrackerClient
from tests.backend_fixtures import (
    API_KEY, FAST_RETRY, PASSWORD, add_staff, backend_config, log_in, login_token, unique,
)


@pytest.fixture
def anonymous(tracking_backend):
    with httpx.Client(base_url=tracking_backend.base_url) as client:
        yield client


@contextmanager
def staff_client(backend: BackendProcess, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend.base_url) as client:
        assert log_in(client, username).status_code == 303
        yield client


def file(http: httpx.Client, group: str, description: str = "3栋楼道灯坏了") -> str:
    response = http.post("/requests.json", data={
        "api_key": API_KEY, "service_code": "lighting", "description": description,
        "address_string": "彭家场社区", "attribute[group]": group,
    })
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


def status_of(http: httpx.Client, ticket: str) -> str:
    return http.get(f"/requests/{ticket}.json").json()[0]["status"]


def test_ledger_pages_send_strangers_to_the_login_page(anonymous):
    ticket = file(anonymous, unique("景湖名都业主群"))
    for path in ("/", "/ledger.csv", f"/tickets/{ticket}"):
        response = anonymous.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/")
    posted = anonymous.post(f"/tickets/{ticket}/status", data={"stage": "closed"})
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
    assert status_of(anonymous, ticket) == "open"
    assert "工作人员登录" in anonymous.get("/login").text


def test_login_sets_a_signed_httponly_samesite_session_cookie(tracking_backend, anonymous):
    staff = add_staff(tracking_backend, groups=["景湖名都业主群"])
    response = log_in(anonymous, staff.username)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith("gridbot_session=")][0]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    assert anonymous.get("/").status_code == 200
    # A cookie whose signature does not match is worth nothing.
    value = anonymous.cookies["gridbot_session"]
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    with httpx.Client(base_url=tracking_backend.base_url, cookies={"gridbot_session": forged}) as other:
        assert other.get("/").status_code == 303


def test_wrong_password_and_unknown_name_get_the_same_refusal(tracking_backend, anonymous):
    staff = add_staff(tracking_backend, groups=["景湖名都业主群"])
    wrong = log_in(anonymous, staff.username, "not-the-password")
    unknown = log_in(anonymous, unique("nobody"), PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "用户名或密码错误。" in response.text
    assert "gridbot_session" not in anonymous.cookies
    assert anonymous.get("/").status_code == 303


def test_failed_logins_are_limited_per_account(tracking_backend, anonymous):
    staff, bystander = add_staff(tracking_backend, groups=["g"]), add_staff(tracking_backend, groups=["g"])
    for _ in range(5):
        assert log_in(anonymous, staff.username, "guess-guess-guess").status_code == 401
    refused = log_in(anonymous, staff.username)  # even the right password, until the window passes
    assert refused.status_code == 429 and "登录失败次数过多，请15分钟后再试。" in refused.text
    assert log_in(anonymous, bystander.username).status_code == 303


def test_login_form_without_its_own_token_is_refused(tracking_backend, anonymous):
    staff = add_staff(tracking_backend, groups=["g"])
    response = anonymous.post("/login", data={"username": staff.username, "password": PASSWORD})
    assert response.status_code == 403 and "登录页已过期" in response.text
    assert "gridbot_session" not in anonymous.cookies


def test_forms_without_the_sessions_csrf_token_change_nothing(tracking_backend):
    group = unique("景湖名都业主群")
    staff = add_staff(tracking_backend, groups=[group])
    other = add_staff(tracking_backend, groups=[group])
    with staff_client(tracking_backend, staff.username) as http, \
            staff_client(tracking_backend, other.username) as other_http:
        ticket = file(http, group)
        others_token = login_token(other_http.get(f"/tickets/{ticket}").text)
        for token in (None, "", "made-up", others_token):
            data = {"stage": "closed", "status_notes": "伪造"} | ({"csrf_token": token} if token is not None else {})
            response = http.post(f"/tickets/{ticket}/status", data=data)
            assert response.status_code == 403 and "缺少安全令牌" in response.text
        assert status_of(http, ticket) == "open"
        assert http.post("/logout").status_code == 403
        assert http.get("/").status_code == 200  # still logged in


def test_logout_ends_the_session_even_for_a_copied_cookie(tracking_backend):
    staff = add_staff(tracking_backend, groups=["g"])
    with staff_client(tracking_backend, staff.username) as http:
        copied = dict(http.cookies)
        token = login_token(http.get("/").text)
        out = http.post("/logout", data={"csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/login?notice=out"
        assert "您已退出登录。" in http.get("/login?notice=out").text
    with httpx.Client(base_url=tracking_backend.base_url, cookies=copied) as replay:
        response = replay.get("/")
        assert response.status_code == 303 and "notice=expired" in response.headers["location"]


def test_grid_manager_sees_only_the_tickets_of_their_own_groups(tracking_backend):
    mine, theirs = unique("景湖名都业主群"), unique("彭家场村村民群")
    staff = add_staff(tracking_backend, groups=[mine])
    with staff_client(tracking_backend, staff.username) as http:
        own, foreign = file(http, mine), file(http, theirs)
        page = http.get("/").text
        listed = re.findall(r'<tr data-ticket="([^"]+)"', page)
        assert own in listed and foreign not in listed
        assert theirs not in page
        assert re.findall(r'<option value="([^"]+)"\s*>', page[:page.index('name="code"')]) == [mine]
        assert re.findall(r'<tr data-ticket="([^"]+)"', http.get("/", params={"group": theirs}).text) == []
        exported = http.get("/ledger.csv").text
        assert own in exported and foreign not in exported and theirs not in exported


def test_another_groups_ticket_is_404_and_cannot_be_changed(tracking_backend):
    mine, theirs = unique("景湖名都业主群"), unique("彭家场村村民群")
    staff = add_staff(tracking_backend, groups=[mine])
    with staff_client(tracking_backend, staff.username) as http:
        own, foreign = file(http, mine), file(http, theirs, "他们群的投诉内容")
        token = login_token(http.get(f"/tickets/{own}").text)
        page = http.get(f"/tickets/{foreign}")
        assert page.status_code == 404
        assert "他们群的投诉内容" not in page.text and theirs not in page.text
        assert page.text.replace(foreign, "X") == http.get("/tickets/GX19990101-0001").text.replace(
            "GX19990101-0001", "X")  # indistinguishable from a ticket that does not exist
        changed = http.post(f"/tickets/{foreign}/status", data={"csrf_token": token, "stage": "closed"})
        assert changed.status_code == 404
        assert status_of(http, foreign) == "open"


def test_an_admin_sees_and_changes_every_group(tracking_backend):
    one, two = unique("景湖名都业主群"), unique("彭家场村村民群")
    admin = add_staff(tracking_backend, "admin")
    with staff_client(tracking_backend, admin.username) as http:
        first, second = file(http, one), file(http, two)
        for group, ticket in ((one, first), (two, second)):
            assert re.findall(r'<tr data-ticket="([^"]+)"', http.get("/", params={"group": group}).text) == [ticket]
        token = login_token(http.get(f"/tickets/{second}").text)
        done = http.post(f"/tickets/{second}/status", data={"csrf_token": token, "stage": "closed"})
        assert done.status_code == 303 and status_of(http, second) == "closed"


def test_a_disabled_account_is_logged_out_at_once(tracking_backend):
    from backend import accounts
    from backend.storage import connect

    staff = add_staff(tracking_backend, groups=["g"])
    with staff_client(tracking_backend, staff.username) as http:
        conn = connect(tracking_backend.db_path)
        accounts.set_disabled(conn, staff.username, True)
        conn.close()
        assert http.get("/").status_code == 303
        assert log_in(http, staff.username).status_code == 401


def test_an_idle_session_expires(tmp_path):
    config = backend_config(tmp_path, session_idle_minutes=0.02)  # 1.2 seconds
    with BackendProcess(tmp_path / "backend.db", api_keys=[API_KEY], config=config) as backend:
        staff = add_staff(backend, groups=["g"])
        with staff_client(backend, staff.username) as http:
            assert http.get("/").status_code == 200
            time.sleep(1.6)
            expired = http.get("/")
            assert expired.status_code == 303
            assert expired.headers["location"] == "/login?next=/&notice=expired"
            assert "登录已超时，请重新登录。" in http.get(expired.headers["location"]).text


def test_a_failed_attempt_keeps_the_page_asked_for(tracking_backend, anonymous):
    staff = add_staff(tracking_backend, groups=["g"])
    asked = anonymous.get("/", params={"status": "open"}).headers["location"]
    form = anonymous.get(asked)
    wrong = anonymous.post("/login", data={"username": staff.username, "password": "wrong-wrong-wrong",
                                           "csrf_token": login_token(form.text), "next": "/?status=open"})
    assert 'name="next" value="/?status=open"' in wrong.text
    right = anonymous.post("/login", data={"username": staff.username, "password": PASSWORD,
                                           "csrf_token": login_token(wrong.text), "next": "/?status=open"})
    assert right.headers["location"] == "/?status=open"


def test_after_login_staff_return_to_the_page_they_asked_for_but_never_elsewhere(tracking_backend, anonymous):
    staff = add_staff(tracking_backend, groups=["g"])
    for asked, landed in (("/?status=open", "/?status=open"), ("//evil.example/x", "/"),
                          ("https://evil.example/", "/"), ("/\\evil.example", "/")):
        with httpx.Client(base_url=tracking_backend.base_url) as http:
            form = http.get("/login", params={"next": asked})
            response = http.post("/login", data={"username": staff.username, "password": PASSWORD,
                                                 "csrf_token": login_token(form.text),
                                                 "next": re.search(r'name="next" value="([^"]*)"', form.text)
                                                 .group(1).replace("&amp;", "&")})
            assert response.headers["location"] == landed


def test_staff_pages_forbid_framing_scripts_and_caching(tracking_backend, ledger_admin):
    page = ledger_admin.get("/")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' covers it
    assert page.headers["cache-control"] == "no-store"


async def test_the_bot_keeps_using_its_api_key_without_any_login(tracking_backend):
    async with TrackerClient(tracking_backend.base_url, API_KEY, retry=FAST_RETRY) as bot:
        made = await bot.create("lighting", "路灯不亮", address_string="彭家场社区",
                                group=unique("景湖名都业主群"), message_id=unique("msg"))
        ticket = made.service_request_id
        assert (await bot.get(ticket)).status == "open"
        closed = await bot.update(ticket, "closed", status_notes="已修复", idempotency_key=unique("k"))
        assert closed.status == "closed"
        assert [r.status for r in await bot.get_many([ticket])] == ["closed"]


def test_the_status_endpoint_for_machines_wants_an_api_key_not_a_session(tracking_backend, ledger_admin):
    ticket = file(ledger_admin, unique("景湖名都业主群"))
    response = ledger_admin.post(f"/requests/{ticket}/status.json", data={"status": "closed"})
    assert response.status_code == 403
    assert status_of(ledger_admin, ticket) == "open"
