"""Notes for the resident (给居民): staff tick a box on the ticket page, the note is kept marked in
the history, the bot fetches it from /resident-notes.json and relays it, and the resident's answer
comes back through notes.json with from=resident (居民回复)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.backend_fixtures import API_KEY, add_staff, log_in, login_token, unique
from tests.test_backend_open311 import W3C_DATETIME
from tests.test_ledger import change_on_page, file, section


def history_rows(http: httpx.Client, ticket: str) -> list[str]:
    page = http.get(f"/tickets/{ticket}").text
    return re.findall(r"<tr>(.*?)</tr>", section(page, 'id="history"', "</table>"), re.S)[1:]


def feed(http: httpx.Client, **params) -> httpx.Response:
    return http.get("/resident-notes.json", params={"api_key": API_KEY, **params})


def notes_of(http: httpx.Client, ticket: str) -> list[dict]:
    """This ticket's notes in the session backend's feed (other tests write theirs too)."""
    found, after = [], 0
    while page := feed(http, after=after).json():
        found += [note for note in page if note["service_request_id"] == ticket]
        after = page[-1]["id"]
    return found


def test_a_note_for_the_resident_is_marked_and_fed_to_the_bot(ledger_admin, ledger_admin_account):
    http = ledger_admin
    ticket = file(http, unique("景湖名都业主群"))
    assert change_on_page(http, ticket, stage="in_progress", status_notes="已派人查看").status_code == 303
    question = "请问车辆具体停在几号楼门口？"
    assert change_on_page(http, ticket, stage="in_progress", status_notes=question,
                          for_resident="1").status_code == 303
    [request] = http.get(f"/requests/{ticket}.json").json()
    assert request["status_notes"] == "已派人查看"  # the official notes stay: the bot tells a note once
    newest = history_rows(http, ticket)[0]
    for said in ("给居民（由网格助手转告）", question, ledger_admin_account.label):
        assert said in newest
    assert "给居民" not in history_rows(http, ticket)[1]

    [note] = notes_of(http, ticket)
    assert set(note) == {"id", "service_request_id", "text", "datetime", "author"}
    assert (note["text"], note["author"]) == (question, ledger_admin_account.display_name)
    assert isinstance(note["id"], int) and W3C_DATETIME.fullmatch(note["datetime"])


def test_ticking_the_box_without_words_is_explained(ledger_admin):
    ticket = file(ledger_admin, unique("景湖名都业主群"))
    refused = change_on_page(ledger_admin, ticket, stage="in_progress", status_notes=" ", for_resident="1")
    assert refused.status_code == 400 and "请在处理说明中写下要转告居民的话" in refused.text
    assert 'id="for-resident" checked' in refused.text
    assert notes_of(ledger_admin, ticket) == []


def test_the_feed_wants_an_api_key_and_a_whole_number_cursor(tracking_backend):
    with httpx.Client(base_url=tracking_backend.base_url) as http:
        for params in ({}, {"api_key": "guess"}, {"api_key": ""}):
            refused = http.get("/resident-notes.json", params=params)
            assert refused.status_code == 403 and "api_key" in refused.json()[0]["description"]
        for after in ("abc", "-1", "1.5", "１", "9" * 20):
            refused = feed(http, after=after)
            assert refused.status_code == 400, after
            assert refused.json()[0]["description"].startswith("after must be a whole number from 0")
        assert feed(http).status_code == 200 and feed(http, after="").status_code == 200


def test_the_feed_pages_by_id_a_hundred_at_a_time_with_only_marked_notes(fresh_tracking_backend):
    backend = fresh_tracking_backend
    staff = add_staff(backend, groups=["景湖名都业主群"], name="李明")
    with httpx.Client(base_url=backend.base_url) as http:
        assert log_in(http, staff.username).status_code == 303
        ticket = file(http, "景湖名都业主群")
        token = login_token(http.get(f"/tickets/{ticket}").text)
        for n in range(105):
            marked = n % 2 == 0 or n > 3
            answer = http.post(f"/tickets/{ticket}/status", data={
                "csrf_token": token, "stage": "in_progress", "status_notes": f"第{n}条",
                **({"for_resident": "1"} if marked else {})})
            assert answer.status_code == 303
        http.post(f"/requests/{ticket}/notes.json", data={"api_key": API_KEY, "note": "居民补充"})

        first = feed(http).json()
        assert len(first) == 100
        assert [note["text"] for note in first[:3]] == ["第0条", "第2条", "第4条"]  # 第1条, 第3条 unmarked
        ids = [note["id"] for note in first]
        assert ids == sorted(ids) and len(set(ids)) == 100
        assert {note["author"] for note in first} == {"李明"}
        rest = feed(http, after=ids[-1]).json()
        assert [note["text"] for note in rest] == [f"第{n}条" for n in range(102, 105)]  # 103 marked in all
        assert feed(http, after=rest[-1]["id"]).json() == []
        assert feed(http, after=ids[1]).json()[0]["text"] == "第4条"


def test_a_residents_reply_reads_as_the_residents_not_the_robots(ledger_admin):
    http = ledger_admin
    ticket = file(http, unique("景湖名都业主群"))
    reply = http.post(f"/requests/{ticket}/notes.json", data={"api_key": API_KEY, "note": "在5号楼门口",
                                                              "from": "resident"})
    assert reply.status_code == 200
    plain = http.post(f"/requests/{ticket}/notes.json", data={"api_key": API_KEY, "note": "又停了一辆"})
    assert plain.status_code == 200
    newest, answered = history_rows(http, ticket)[:2]
    assert "居民回复" in answered and "在5号楼门口" in answered and "机器人接口" not in answered
    assert "机器人接口" in newest and "居民回复" not in newest  # without `from`, as before
    refused = http.post(f"/requests/{ticket}/notes.json", data={"api_key": API_KEY, "note": "x", "from": "staff"})
    assert refused.status_code == 400 and "from must be 'resident' or left out" in refused.json()[0]["description"]
    [request] = http.get(f"/requests/{ticket}.json").json()
    assert (request["stage"], request["status_notes"]) == ("received", None)
    assert notes_of(http, ticket) == []  # a reply is not a note for the resident


@pytest.mark.parametrize("field", ["note", "from"])
def test_a_reply_needs_its_api_key(tracking_backend, field):
    with httpx.Client(base_url=tracking_backend.base_url) as http:
        ticket = file(http, unique("景湖名都业主群"))
        refused = http.post(f"/requests/{ticket}/notes.json", data={"note": "在5号楼", field: "resident"})
        assert refused.status_code == 403
