"""A category change made by staff on the ticket page: the same change as the bot's 改类 (the
category.json extension), so the agency follows, the history names who, when and from → to, and
the bot reads the new service_code over Open311."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest

from backend.process import BackendProcess
from tests.backend_fixtures import API_KEY, add_staff, log_in, login_token, unique
from tests.test_ledger import file, section


@contextmanager
def staff_client(backend: BackendProcess, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend.base_url) as client:
        assert log_in(client, username).status_code == 303
        yield client


def recategorize_on_page(http: httpx.Client, ticket: str, code: str, token: str | None = None) -> httpx.Response:
    if token is None:
        token = login_token(http.get(f"/tickets/{ticket}").text)
    return http.post(f"/tickets/{ticket}/category", data={"csrf_token": token, "service_code": code})


def history_rows(http: httpx.Client, ticket: str) -> list[str]:
    page = http.get(f"/tickets/{ticket}").text
    return re.findall(r"<tr>(.*?)</tr>", section(page, 'id="history"', "</table>"), re.S)[1:]


def test_a_grid_manager_changes_the_category_and_open311_readers_see_it(tracking_backend):
    group = unique("景湖名都业主群")
    manager = add_staff(tracking_backend, groups=[group], name="李明")
    with staff_client(tracking_backend, manager.username) as http:
        ticket = file(http, group, "parking", "楼下KTV每晚唱到一点")
        [before] = http.get(f"/requests/{ticket}.json").json()
        page = http.get(f"/tickets/{ticket}").text
        options = re.findall(r'<option value="(\w+)"', section(page, 'id="category-select"', "</select>"))
        assert len(options) == 21 and "noise" in options
        answer = recategorize_on_page(http, ticket, "noise")
        assert answer.status_code == 303 and answer.headers["location"] == f"/tickets/{ticket}?saved=1"

        [after] = http.get(f"/requests/{ticket}.json").json()
        [listed] = http.get("/requests.json", params={"service_request_id": ticket}).json()
        for request in (after, listed):
            assert (request["service_code"], request["service_name"]) == ("noise", "噪音扰民")
            assert request["agency_responsible"] == "城管执法中队"
            assert request["stage"] == "in_progress"  # a staff action
        assert after["updated_datetime"] > before["updated_datetime"]
        newest = history_rows(http, ticket)[0]
        for said in ("李明", manager.username, "类别：停车秩序 → 噪音扰民", "转派：交警大队 → 城管执法中队",
                     "状态：已受理 → 处理中"):
            assert said in newest
        assert re.search(r'id="ticket-category">噪音扰民<', http.get(f"/tickets/{ticket}").text)


def test_a_bad_or_unchanged_category_is_explained_and_changes_nothing(ledger_admin):
    http = ledger_admin
    ticket = file(http, unique("景湖名都业主群"))
    for code, words in (("potholes", "请从列表中选择类别。"), ("", "请从列表中选择类别。"),
                        ("parking", "类别没有变化：请选择另一个类别。")):
        answer = recategorize_on_page(http, ticket, code)
        assert answer.status_code == 400 and words in answer.text
    [request] = http.get(f"/requests/{ticket}.json").json()
    assert (request["service_code"], request["stage"]) == ("parking", "received")
    assert len(history_rows(http, ticket)) == 1


def test_another_groups_ticket_cannot_be_recategorized(tracking_backend):
    mine, theirs = unique("景湖名都业主群"), unique("彭家场村村民群")
    manager = add_staff(tracking_backend, groups=[mine])
    with staff_client(tracking_backend, manager.username) as http:
        own, foreign = file(http, mine), file(http, theirs)
        token = login_token(http.get(f"/tickets/{own}").text)
        refused = recategorize_on_page(http, foreign, "noise", token)
        assert refused.status_code == 404 and "未找到工单" in refused.text
        assert http.get(f"/requests/{foreign}.json").json()[0]["service_code"] == "parking"


@pytest.mark.parametrize("token", [None, "made-up"])
def test_a_category_form_without_its_csrf_token_is_refused(ledger_admin, token):
    ticket = file(ledger_admin, unique("景湖名都业主群"))
    data = {"service_code": "noise"} | ({"csrf_token": token} if token else {})
    refused = ledger_admin.post(f"/tickets/{ticket}/category", data=data)
    assert refused.status_code == 403 and "缺少安全令牌" in refused.text
    assert ledger_admin.get(f"/requests/{ticket}.json").json()[0]["service_code"] == "parking"


def test_the_bots_category_change_reads_the_same_in_the_history(ledger_admin):
    http = ledger_admin
    ticket = file(http, unique("景湖名都业主群"))
    answer = http.post(f"/requests/{ticket}/category.json", data={"api_key": API_KEY, "service_code": "fire"},
                       headers={"Idempotency-Key": unique("k")})
    assert answer.status_code == 200
    assert (answer.json()[0]["agency_responsible"], answer.json()[0]["stage"]) == ("消防救援站", "in_progress")
    newest = history_rows(http, ticket)[0]
    assert "机器人接口" in newest and "类别：停车秩序 → 消防安全" in newest
    unknown = http.post(f"/requests/{ticket}/category.json", data={"api_key": API_KEY, "service_code": "x"})
    assert unknown.status_code == 400 and "unknown service_code" in unknown.json()[0]["description"]
