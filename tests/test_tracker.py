"""The tracker client against the real reference backend: what the bot does with tickets."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
import yaml

from tests.backend_fixtures import API_KEY, FAST_RETRY, unique
from bot.tracker import (
    PermanentTrackerError, TicketNotFoundError, TrackerClient,
)

COMMUNITY = "太湖港街道彭家场社区"


async def file_complaint(client: TrackerClient, group: str | None = None, **overrides):
    fields = dict(service_code="lighting", description="3栋楼道的路灯坏了一个星期了",
                  address_string=COMMUNITY, group=group or unique("景湖名都业主群"),
                  reporter="wxid_resident", message_id=unique("msg"))
    fields.update(overrides)
    return await client.create(fields.pop("service_code"), fields.pop("description"), **fields)


async def test_services_list_every_taxonomy_category_with_its_agency(tracker_client):
    services = await tracker_client.services()
    taxonomy = yaml.safe_load(open("taxonomy.yaml", encoding="utf-8"))["categories"]
    assert {s.service_code for s in services} == set(taxonomy)
    lighting = next(s for s in services if s.service_code == "lighting")
    assert lighting.service_name == "路灯照明"
    assert lighting.group == "市政设施"
    assert lighting.agency_responsible == "城管局市政设施科"


async def test_complaint_becomes_a_ticket_number_people_can_read_aloud(tracker_client):
    ticket = await file_complaint(tracker_client)
    assert re.fullmatch(r"GX\d{8}-\d{4}", ticket.service_request_id)
    assert ticket.replayed is False
    assert "城管局市政设施科" in ticket.service_notice


async def test_retrying_a_create_with_the_same_message_id_returns_the_same_ticket(tracker_client):
    message_id = unique("msg")
    first = await file_complaint(tracker_client, message_id=message_id, group="景湖名都业主群")
    again = await file_complaint(tracker_client, message_id=message_id, group="景湖名都业主群")
    assert again.service_request_id == first.service_request_id
    assert again.replayed is True


async def test_simultaneous_retries_with_one_idempotency_key_make_one_ticket(tracking_backend):
    key = unique("outbox-row")
    clients = [TrackerClient(tracking_backend.base_url, API_KEY, retry=FAST_RETRY) for _ in range(10)]
    try:
        answers = await asyncio.gather(*(
            file_complaint(client, group="景湖名都业主群", message_id="m1", idempotency_key=key)
            for client in clients for _ in range(3)
        ))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    assert len({a.service_request_id for a in answers}) == 1
    assert sum(not a.replayed for a in answers) == 1


async def test_get_returns_the_ticket_as_it_was_filed(tracker_client):
    made = await file_complaint(tracker_client, description="5栋门口路灯不亮", media_url="https://img.example/1.jpg")
    request = await tracker_client.get(made.service_request_id)
    assert request.service_request_id == made.service_request_id
    assert (request.status, request.status_notes) == ("open", None)
    assert request.service_code == "lighting" and request.service_name == "路灯照明"
    assert request.description == "5栋门口路灯不亮"
    assert request.address == COMMUNITY
    assert request.agency_responsible == "城管局市政设施科"
    assert request.media_url == "https://img.example/1.jpg"
    assert request.requested_datetime.utcoffset() == timedelta(hours=8)
    assert request.updated_datetime == request.requested_datetime
    assert request.expected_datetime - request.requested_datetime == timedelta(days=7)


async def test_urgent_category_gets_a_shorter_deadline(tracker_client):
    made = await file_complaint(tracker_client, service_code="gas", description="楼道里有很重的煤气味")
    request = await tracker_client.get(made.service_request_id)
    assert request.expected_datetime - request.requested_datetime == timedelta(days=1)
    assert request.agency_responsible == "燃气公司"


async def test_get_many_returns_every_known_ticket_and_skips_unknown_ones(tracker_client):
    made = [await file_complaint(tracker_client) for _ in range(55)]  # more than one chunk of ids
    ids = [m.service_request_id for m in made]
    found = await tracker_client.get_many(ids + ["GX19990101-0001"] + ids[:3])
    assert sorted(r.service_request_id for r in found) == sorted(ids)


async def test_get_many_of_nothing_asks_nothing(tracker_client):
    assert await tracker_client.get_many([]) == []


async def test_unknown_ticket_number_raises_not_found(tracker_client):
    with pytest.raises(TicketNotFoundError) as caught:
        await tracker_client.get("GX19990101-9999")
    assert caught.value.status == 404


@pytest.mark.parametrize("overrides, words", [
    ({"service_code": "potholes"}, "unknown service_code"),
    ({"description": "   "}, "description is required"),
    ({"description": "路灯坏了" * 1001}, "description is 4004 characters long; the limit is 4000"),
    ({"group": "群" * 201}, "attribute[group] is 201 characters long"),
    ({"media_url": "file:///etc/passwd"}, "media_url must be an http"),
])
async def test_invalid_complaint_is_a_permanent_error_carrying_the_servers_message(
        tracker_client, overrides, words):
    with pytest.raises(PermanentTrackerError) as caught:
        await file_complaint(tracker_client, **overrides)
    assert caught.value.status == 400
    assert caught.value.code == 400
    assert words in caught.value.description


async def test_wrong_api_key_is_refused_with_403(tracking_backend):
    async with TrackerClient(tracking_backend.base_url, "not-a-key", retry=FAST_RETRY) as client:
        with pytest.raises(PermanentTrackerError) as caught:
            await file_complaint(client)
    assert caught.value.status == 403
    assert "api_key" in caught.value.description


async def test_closing_a_ticket_keeps_notes_and_agency_and_moves_updated_datetime(tracker_client):
    made = await file_complaint(tracker_client)
    before = await tracker_client.get(made.service_request_id)
    working = await tracker_client.update(made.service_request_id, "open", status_notes="已派电工",
                                          agency_responsible="供电所")
    closed = await tracker_client.update(made.service_request_id, "closed", status_notes="路灯已修复")
    assert before.updated_datetime < working.updated_datetime < closed.updated_datetime
    assert (closed.status, closed.status_notes, closed.agency_responsible) == ("closed", "路灯已修复", "供电所")
    assert await tracker_client.get(made.service_request_id) == closed


async def test_a_repeated_status_change_is_recorded_once(tracker_client):
    made = await file_complaint(tracker_client)
    first = await tracker_client.update(made.service_request_id, "closed", status_notes="已修复",
                                        idempotency_key="outbox-7")
    again = await tracker_client.update(made.service_request_id, "closed", status_notes="已修复",
                                        idempotency_key="outbox-7")
    assert again.updated_datetime == first.updated_datetime


async def test_status_change_of_unknown_ticket_raises_not_found(tracker_client):
    with pytest.raises(TicketNotFoundError):
        await tracker_client.update("GX19990101-9999", "closed")


async def test_client_takes_its_api_key_from_the_variable_config_names(tracking_backend, monkeypatch):
    monkeypatch.setenv("GRIDBOT_TEST_TRACKER_KEY", API_KEY)
    async with TrackerClient.from_env(tracking_backend.base_url, "GRIDBOT_TEST_TRACKER_KEY") as client:
        assert (await file_complaint(client)).service_request_id.startswith("GX")
    monkeypatch.delenv("GRIDBOT_TEST_TRACKER_KEY")
    with pytest.raises(ValueError, match="GRIDBOT_TEST_TRACKER_KEY is not set"):
        TrackerClient.from_env(tracking_backend.base_url, "GRIDBOT_TEST_TRACKER_KEY")
