"""Tickets with a source and without a group (issue 16): the hotline, the government service
platform and the web form file tickets that belong to no WeChat group. Admins see them and assign
them to a group, whose grid managers then see them; the ledger shows and filters the source."""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest

from backend.process import BackendProcess
from backend.records import NewRequest
from tests.backend_fixtures import API_KEY, add_staff, log_in, login_token, unique
from tests.test_ledger import read_csv, section, ticket_rows


@contextmanager
def staff_client(backend: BackendProcess, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend.base_url) as client:
        assert log_in(client, username).status_code == 303
        yield client


def complaint(description: str, **fields) -> dict:
    return {"api_key": API_KEY, "service_code": "road", "description": description,
            "address_string": "太湖港街道彭家场社区", **fields}


def file(http: httpx.Client, description: str, **fields) -> str:
    response = http.post("/requests.json", data=complaint(description, **fields))
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


@pytest.mark.parametrize("source", ["hotline", "platform", "web"])
def test_a_ticket_from_elsewhere_than_wechat_needs_no_group(ledger_admin, source):
    ticket = file(ledger_admin, f"村口路面塌陷（{source}）", **{"attribute[source]": source})
    [request] = ledger_admin.get(f"/requests/{ticket}.json").json()
    assert request["source"] == source
    [listed] = ledger_admin.get("/requests.json", params={"service_request_id": ticket}).json()
    assert listed["source"] == source


@pytest.mark.parametrize("fields, words", [
    ({}, "attribute[group] is required for a complaint from a WeChat group"),
    ({"attribute[source]": "wechat"}, "attribute[group] is required"),
    ({"attribute[source]": "wechat", "attribute[group]": "  "}, "attribute[group] is required"),
    ({"attribute[source]": "fax", "attribute[group]": "景湖名都业主群"},
     "attribute[source] must be one of wechat, hotline, platform, web, not 'fax'"),
])
def test_a_wechat_ticket_without_its_group_or_an_unknown_source_is_refused(tracking_backend, fields, words):
    with httpx.Client(base_url=tracking_backend.base_url) as http:
        refused = http.post("/requests.json", data=complaint("路面有坑", **fields))
    assert refused.status_code == 400 and words in refused.json()[0]["description"]


def test_a_wechat_ticket_reads_as_from_wechat(ledger_admin):
    ticket = file(ledger_admin, "路灯坏了", **{"attribute[group]": unique("景湖名都业主群")})
    assert ledger_admin.get(f"/requests/{ticket}.json").json()[0]["source"] == "wechat"


def test_wechat_tickets_keep_the_fingerprints_they_had_before_sources():
    """A retry with an Idempotency-Key made before this version must still match its ticket."""
    new = NewRequest(service_code="road", description="路面有坑", agency="交通运输局", deadline_days=7,
                     changed_by="api:1", address_string="彭家场社区", group_name="景湖名都业主群",
                     idempotency_key="m-1")
    before = {"service_code": "road", "description": "路面有坑", "address_string": "彭家场社区", "lat": None,
              "long": None, "media_url": None, "group_name": "景湖名都业主群", "reporter": None, "message_id": None}
    assert new.fingerprint() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    hotline = NewRequest(**{**new.__dict__, "source": "hotline"})
    assert hotline.fingerprint() != new.fingerprint()


def test_groupless_tickets_are_seen_by_admins_only_and_the_ledger_filters_by_source(tracking_backend,
                                                                                     ledger_admin):
    group = unique("景湖名都业主群")
    manager = add_staff(tracking_backend, groups=[group])
    word = unique("热线工单")
    hotline = file(ledger_admin, f"{word} 路面塌陷", **{"attribute[source]": "hotline"})
    web = file(ledger_admin, f"{word} 路面积水", **{"attribute[source]": "web", "attribute[group]": group})
    wechat = file(ledger_admin, f"{word} 井盖丢了", **{"attribute[group]": group})

    def listed(http: httpx.Client, **params) -> set[str]:
        return set(ticket_rows(http.get("/", params={"q": word, **params}).text))

    assert listed(ledger_admin) == {hotline, web, wechat}
    assert listed(ledger_admin, source="hotline") == {hotline}
    assert listed(ledger_admin, source="wechat") == {wechat}
    assert listed(ledger_admin, ungrouped="1") == {hotline}
    page = ledger_admin.get("/", params={"q": word}).text
    row = page[page.index(f'data-ticket="{hotline}"'):]
    row = row[:row.index("</tr>")]
    assert re.search(r'<td class="group"[^>]*>（未分派群）</td>', row)
    assert re.search(r'<td class="source[^>]*>热线</td>', row)
    header, *rows = read_csv(ledger_admin.get("/ledger.csv", params={"q": word}))
    assert {r[0]: (r[header.index("群")], r[header.index("来源")]) for r in rows} == {
        hotline: ("", "热线"), web: (group, "网页"), wechat: (group, "微信群")}
    ticket_page = ledger_admin.get(f"/tickets/{hotline}").text
    assert re.search(r'id="ticket-source">热线<', ticket_page) and re.search(r'id="ticket-group">（未分派群）<',
                                                                          ticket_page)

    with staff_client(tracking_backend, manager.username) as http:
        assert listed(http) == {web, wechat}
        assert listed(http, source="hotline") == set()
        assert listed(http, ungrouped="1") == {web, wechat}  # not theirs to use: ignored
        assert 'id="ungrouped"' not in http.get("/").text
        assert http.get(f"/tickets/{hotline}").status_code == 404
        assert hotline not in http.get("/ledger.csv").text


def test_an_admin_assigns_a_group_and_its_grid_managers_then_see_the_ticket(tracking_backend, ledger_admin,
                                                                         ledger_admin_account):
    group = unique("彭家场村村民群")
    manager = add_staff(tracking_backend, groups=[group], name="李明")
    ticket = file(ledger_admin, "村口路灯不亮，12345热线转来", **{"attribute[source]": "platform"})
    page = ledger_admin.get(f"/tickets/{ticket}").text
    choices = re.findall(r'<option value="([^"]+)"', section(page, 'id="group-select"', "</select>"))
    assert group in choices  # a group with a grid manager, even before its first ticket
    token = login_token(page)

    for data, words in (({"group_name": ""}, "请从列表中选择要分派的群。"),
                        ({"group_name": unique("没有人管的群")}, "请从列表中选择要分派的群。")):
        refused = ledger_admin.post(f"/tickets/{ticket}/group", data={"csrf_token": token, **data})
        assert refused.status_code == 400 and words in refused.text
    forged = ledger_admin.post(f"/tickets/{ticket}/group", data={"group_name": group})
    assert forged.status_code == 403 and "缺少安全令牌" in forged.text

    with staff_client(tracking_backend, manager.username) as http:
        assert http.get(f"/tickets/{ticket}").status_code == 404
    [before] = ledger_admin.get(f"/requests/{ticket}.json").json()
    done = ledger_admin.post(f"/tickets/{ticket}/group", data={"csrf_token": token, "group_name": group})
    assert done.status_code == 303 and done.headers["location"] == f"/tickets/{ticket}?saved=1"
    page = ledger_admin.get(f"/tickets/{ticket}").text
    newest = re.findall(r"<tr>(.*?)</tr>", section(page, 'id="history"', "</table>"), re.S)[1]
    assert f"分派到 {group}" in newest and ledger_admin_account.label in newest
    assert re.search(rf'id="ticket-group">{group}<', page) and 'id="group-form"' not in page
    [after] = ledger_admin.get(f"/requests/{ticket}.json").json()
    assert after["updated_datetime"] > before["updated_datetime"] and after["stage"] == "received"

    again = ledger_admin.post(f"/tickets/{ticket}/group", data={"csrf_token": token, "group_name": group})
    assert again.status_code == 400 and f"该工单已属于「{group}」" in again.text
    with staff_client(tracking_backend, manager.username) as http:
        assert ticket in ticket_rows(http.get("/").text)
        assert "村口路灯不亮" in http.get(f"/tickets/{ticket}").text
        own_token = login_token(http.get(f"/tickets/{ticket}").text)
        refused = http.post(f"/tickets/{ticket}/group", data={"csrf_token": own_token, "group_name": group})
        assert refused.status_code == 403 and "只有管理员可以分派群。" in refused.text
