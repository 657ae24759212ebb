"""Residents' personal data in what the backend shows: phone and ID-card numbers masked in lists,
CSV and the public Open311 reads, whole only on the ticket page for staff in scope; WeChat ids
never shown; Open311 reads behind an api_key when the config asks for it."""

from __future__ import annotations

import httpx
import pytest

from backend.privacy import mask, reporter_label
from backend.process import BackendProcess
from tests.backend_fixtures import API_KEY, add_staff, backend_config, log_in, unique

PHONE, ID_CARD = "13812345678", "42010219900101123X"
COMPLAINT = f"楼下占道经营，我是业主张阿姨电话{PHONE}，身份证{ID_CARD}"


@pytest.mark.parametrize("text, shown", [
    ("电话13812345678", "电话138****5678"),
    ("电话 138 1234 5678 找我", "电话 138 **** 5678 找我"),
    ("手机１３８１２３４５６７８", "手机１３８****５６７８"),
    ("身份证420102199001011234", "身份证420***********1234"),
    ("身份证42010219900101123x号", "身份证420***********123x号"),
    ("座机0716-8123456", "座机071*-***3456"),
    ("工单GX20261124-0007，欠薪15000元，2026年11月24日", "工单GX20261124-0007，欠薪15000元，2026年11月24日"),
    ("3栋2单元502室", "3栋2单元502室"),
    ("wxid_abc123说的", "***********说的"),
])
def test_numbers_are_masked_keeping_the_first_three_and_last_four(text, shown):
    assert mask(text) == shown
    assert len(mask(text)) == len(text)


def test_a_reporter_is_shown_only_as_an_opaque_id():
    assert reporter_label("r-0123456789abcdef") == "r-0123456789abcdef"
    assert reporter_label("wxid_resident").startswith("r-") and "wxid" not in reporter_label("wxid_resident")


def file(http: httpx.Client, group: str, reporter: str = "r-0123456789abcdef") -> str:
    response = http.post("/requests.json", data={
        "api_key": API_KEY, "service_code": "encroachment", "description": COMPLAINT,
        "address_string": "彭家场社区", "attribute[group]": group, "attribute[reporter]": reporter,
    })
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


def test_open311_reads_mask_the_numbers_for_any_client(tracking_backend):
    with httpx.Client(base_url=tracking_backend.base_url) as anyone:
        ticket = file(anyone, unique("景湖名都业主群"))
        [one] = anyone.get(f"/requests/{ticket}.json").json()
        [listed] = anyone.get("/requests.json", params={"service_request_id": ticket}).json()
    for request in (one, listed):
        assert PHONE not in request["description"] and ID_CARD not in request["description"]
        assert "138****5678" in request["description"] and "420***********123X" in request["description"]


def test_staff_see_numbers_whole_only_on_the_ticket_page(tracking_backend):
    group = unique("景湖名都业主群")
    staff = add_staff(tracking_backend, groups=[group])
    with httpx.Client(base_url=tracking_backend.base_url) as http:
        assert log_in(http, staff.username).status_code == 303
        ticket = file(http, group)
        listing = http.get("/", params={"q": ticket}).text
        exported = http.get("/ledger.csv", params={"group": group}).text
        for masked_view in (listing, exported):
            assert ticket in masked_view and PHONE not in masked_view and ID_CARD not in masked_view
            assert "138****5678" in masked_view
        page = http.get(f"/tickets/{ticket}").text
        assert PHONE in page and ID_CARD in page


def test_wechat_ids_never_appear_on_the_ledger(tracking_backend, ledger_admin):
    group = unique("景湖名都业主群")
    ticket = file(ledger_admin, group, reporter="wxid_resident42")
    ledger_admin.post("/requests.json", data={
        "api_key": API_KEY, "service_code": "noise", "description": "wxid_neighbour99 家里太吵",
        "address_string": "彭家场社区", "attribute[group]": group,
    })
    page = ledger_admin.get(f"/tickets/{ticket}").text
    assert "wxid_resident42" not in page and reporter_label("wxid_resident42") in page
    listing = ledger_admin.get("/", params={"group": group}).text
    for shown in (page, listing, ledger_admin.get("/ledger.csv", params={"group": group}).text):
        assert "wxid_" not in shown


def test_reads_need_an_api_key_when_the_config_says_so(tmp_path):
    config = backend_config(tmp_path, require_key_for_reads=True)
    with BackendProcess(tmp_path / "backend.db", api_keys=[API_KEY], config=config) as backend, \
            httpx.Client(base_url=backend.base_url) as http:
        ticket = file(http, "景湖名都业主群")
        for path in (f"/requests/{ticket}.json", "/requests.json"):
            refused = http.get(path)
            assert refused.status_code == 403 and "api_key" in refused.json()[0]["description"]
            assert http.get(path, params={"api_key": "wrong"}).status_code == 403
            assert http.get(path, params={"api_key": API_KEY}).status_code == 200
        assert http.get("/services.json").status_code == 200  # the catalogue stays public
