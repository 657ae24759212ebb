"""The reference backend speaks Open311 GeoReport v2 as the spec writes it (field names, types,
errors), so that any Open311 client can use it and the bot can use any Open311 server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.backend_fixtures import API_KEY, unique

# https://wiki.open311.org/GeoReport_v2: field -> allowed JSON types (None: the field may be null).
SERVICE_FIELDS = {
    "service_code": (str,), "service_name": (str,), "description": (str, type(None)),
    "metadata": (bool,), "type": (str,), "keywords": (str, type(None)), "group": (str, type(None)),
}
REQUEST_FIELDS = {
    "service_request_id": (str,), "status": (str,), "status_notes": (str, type(None)),
    "service_name": (str, type(None)), "service_code": (str,), "description": (str, type(None)),
    "agency_responsible": (str, type(None)), "service_notice": (str, type(None)),
    "requested_datetime": (str,), "updated_datetime": (str, type(None)),
    "expected_datetime": (str, type(None)), "address": (str, type(None)),
    "address_id": (str, type(None)), "zipcode": (str, type(None)), "lat": (float, type(None)),
    "long": (float, type(None)), "media_url": (str, type(None)),
}
ATTRIBUTE_FIELDS = {
    "variable": (bool,), "code": (str,), "datatype": (str,), "required": (bool,),
    "datatype_description": (str, type(None)), "order": (int,), "description": (str,), "values": (list,),
}
# W3C datetime as Open311 asks: a full date and time with an explicit offset.
W3C_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)")


def assert_fields(obj: dict, fields: dict) -> None:
    missing = set(fields) - set(obj)
    assert not missing, f"missing Open311 fields: {missing}"
    for name, types in fields.items():
        assert isinstance(obj[name], types), f"{name} = {obj[name]!r} is not {types}"


def complaint(**overrides) -> dict:
    form = {"api_key": API_KEY, "service_code": "noise", "description": "晚上十一点还在跳广场舞",
            "address_string": "太湖港街道彭家场社区", "attribute[group]": unique("景湖名都业主群"),
            "attribute[reporter]": "wxid_a", "attribute[message_id]": unique("msg")}
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


@pytest.fixture
def http(tracking_backend):
    with httpx.Client(base_url=tracking_backend.base_url) as client:
        yield client


def file(http: httpx.Client, **overrides) -> str:
    response = http.post("/requests.json", data=complaint(**overrides))
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


def test_services_json_has_open311_field_names_and_types(http):
    response = http.get("/services.json")
    assert response.headers["content-type"].startswith("application/json")
    services = response.json()
    assert isinstance(services, list) and len(services) == 21
    for service in services:
        assert_fields(service, SERVICE_FIELDS)
        assert service["type"] in ("realtime", "batch", "blackbox")


def test_service_definition_declares_the_attributes_the_bot_sends(http):
    definition = http.get("/services/lighting.json").json()
    assert definition["service_code"] == "lighting"
    for attribute in definition["attributes"]:
        assert_fields(attribute, ATTRIBUTE_FIELDS)
    assert [a["code"] for a in definition["attributes"]] == ["group", "reporter", "message_id", "source"]
    assert http.get("/services/potholes.json").status_code == 404


def test_creating_answers_with_an_open311_receipt(http):
    response = http.post("/requests.json", data=complaint(), headers={"Idempotency-Key": unique("k")})
    assert response.status_code == 200
    [receipt] = response.json()
    assert isinstance(receipt["service_request_id"], str)
    assert isinstance(receipt["service_notice"], str)
    assert "account_id" in receipt


def test_service_request_json_has_open311_field_names_and_types(http):
    ticket = file(http, lat="30.35", long="112.19")
    for response in (http.get(f"/requests/{ticket}.json"),
                     http.get("/requests.json", params={"service_request_id": ticket})):
        [request] = response.json()
        assert_fields(request, REQUEST_FIELDS)
        for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
            assert W3C_DATETIME.fullmatch(request[name]), request[name]
        assert request["status"] in ("open", "closed")
        assert (request["lat"], request["long"]) == (30.35, 112.19)


@pytest.mark.parametrize("method, path, data, status, words", [
    ("POST", "/requests.json", complaint(service_code="potholes"), 400, "unknown service_code"),
    ("POST", "/requests.json", complaint(description=""), 400, "description is required"),
    ("POST", "/requests.json", complaint(address_string="街" * 501), 400, "address_string is 501"),
    ("POST", "/requests.json", complaint(address_string=None), 400, "a location is required"),
    ("POST", "/requests.json", complaint(**{"attribute[group]": None}), 400, "attribute[group] is required"),
    ("POST", "/requests.json", complaint(lat="91", long="0"), 400, "lat must be between"),
    ("POST", "/requests.json", complaint(api_key=None), 403, "api_key"),
    ("POST", "/requests.json", complaint(api_key="guess"), 403, "api_key"),
    ("POST", "/requests.json", complaint(jurisdiction_id="elsewhere.gov"), 404, "jurisdiction_id"),
    ("POST", "/requests.json", complaint(description="长" * 70_000), 413, "larger than"),
    ("GET", "/requests/GX19990101-0001.json", None, 404, "no service request"),
    ("GET", "/requests.json?status=pending", None, 400, "status"),
    ("GET", "/requests.json?start_date=yesterday", None, 400, "start_date must be an ISO 8601"),
    ("GET", "/nothing-here.json", None, 404, "Not Found"),
    ("DELETE", "/requests.json", None, 405, "Method Not Allowed"),
])
def test_errors_are_open311_error_arrays_with_the_http_status(http, method, path, data, status, words):
    response = http.request(method, path, data=data)
    assert response.status_code == status
    [error] = response.json()
    assert error["code"] == status
    assert words in error["description"]


def test_body_that_is_neither_form_nor_json_is_refused(http):
    response = http.post("/requests.json", content=b"<xml/>", headers={"Content-Type": "text/xml"})
    assert response.status_code == 415
    assert response.json()[0]["code"] == 415


def test_idempotency_key_reused_for_a_different_complaint_is_refused(http):
    key = unique("k")
    assert http.post("/requests.json", data=complaint(), headers={"Idempotency-Key": key}).status_code == 200
    other = http.post("/requests.json", data=complaint(description="另一件事"), headers={"Idempotency-Key": key})
    assert other.status_code == 422
    assert "Idempotency-Key was already used" in other.json()[0]["description"]


def test_ticket_numbers_count_up_within_the_day(http):
    first, second = file(http), file(http)
    day, number = first.split("-")
    assert second == f"{day}-{int(number) + 1:04d}"
    assert day == "GX" + datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")


def test_requests_json_filters_by_service_code_status_and_dates(http):
    noise, fire = file(http), file(http, service_code="fire", description="楼道里有人给电动车充电")
    closed = http.post(f"/requests/{noise}/status.json", data={"api_key": API_KEY, "status": "closed"})
    assert closed.status_code == 200

    def ids(**params) -> set[str]:
        return {r["service_request_id"] for r in http.get("/requests.json", params=params).json()}

    assert noise in ids(service_code="noise") and fire not in ids(service_code="noise")
    assert fire in ids(service_code="noise,fire")
    assert noise in ids(status="closed") and fire not in ids(status="closed")
    assert fire in ids(status="open", service_code="fire")
    tomorrow = (datetime.now().astimezone() + timedelta(days=1)).isoformat()
    assert not ids(start_date=tomorrow) & {noise, fire}
    assert {noise, fire} <= ids(end_date=tomorrow)


def test_requests_json_by_ids_ignores_the_other_filters(http):
    ticket = file(http)
    found = http.get("/requests.json", params={"service_request_id": ticket, "status": "closed"}).json()
    assert [r["service_request_id"] for r in found] == [ticket]


def test_status_change_needs_a_valid_api_key_and_a_known_status(http):
    ticket = file(http)
    refused = http.post(f"/requests/{ticket}/status.json", data={"status": "closed"})
    assert refused.status_code == 403
    unknown = http.post(f"/requests/{ticket}/status.json", data={"api_key": API_KEY, "status": "done"})
    assert unknown.status_code == 400 and "status must be one of open, closed" in unknown.json()[0]["description"]
    as_json = http.post(f"/requests/{ticket}/status.json",
                        json={"api_key": API_KEY, "status": "closed", "status_notes": "已劝导"})
    assert as_json.json()[0]["status_notes"] == "已劝导"
