"""One set of status words (common/status.py) in the backend: a ticket is 已受理 when filed, 处理中
once someone acts on it, then 已办结 or 已退回; Open311 still reads open/closed, and every JSON read
carries the stage. The ledger, its filter, the ticket page and the CSV show the same words."""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest

from backend.process import BackendProcess
from backend.schema import MIGRATIONS, SCHEMA_VERSION, _statements
from tests.backend_fixtures import API_KEY, add_staff, log_in, unique
from tests.test_ledger import change_on_page, file, read_csv, section, ticket_rows, update


@pytest.fixture
def http(ledger_admin):
    return ledger_admin


def read(http: httpx.Client, ticket: str) -> dict:
    [one] = http.get(f"/requests/{ticket}.json").json()
    [listed] = http.get("/requests.json", params={"service_request_id": ticket}).json()
    assert one == listed
    return one


def newest_history(http: httpx.Client, ticket: str) -> str:
    page = http.get(f"/tickets/{ticket}").text
    return re.findall(r"<tr>(.*?)</tr>", section(page, 'id="history"', "</table>"), re.S)[1]


def test_a_new_ticket_is_received_and_every_json_read_says_so(http):
    ticket = file(http, unique("景湖名都业主群"))
    request = read(http, ticket)
    assert (request["status"], request["stage"]) == ("open", "received")
    page = http.get(f"/tickets/{ticket}").text
    assert re.search(r'id="ticket-status" class="stage-received">已受理<', page)


def test_a_staff_note_puts_a_received_ticket_in_progress(http, ledger_admin_account):
    group = unique("景湖名都业主群")
    ticket = file(http, group)
    form = http.get(f"/tickets/{ticket}").text
    assert re.findall(r'<option value="(\w+)"\s*(?:selected)?>', section(form, 'id="status-select"', "</select>")) \
        == ["in_progress", "closed", "returned"]
    assert change_on_page(http, ticket, stage="in_progress", status_notes="已通知交警",
                          agency_responsible="交警大队").status_code == 303
    assert (read(http, ticket)["status"], read(http, ticket)["stage"]) == ("open", "in_progress")
    assert "状态：已受理 → 处理中" in newest_history(http, ticket)
    assert ledger_admin_account.label in newest_history(http, ticket)
    row = http.get("/", params={"group": group}).text
    assert re.search(rf'data-ticket="{ticket}".*?class="status stage-in_progress">处理中<', row, re.S)


def test_a_returned_ticket_needs_a_reason_and_reads_as_closed(http):
    group = unique("景湖名都业主群")
    ticket = file(http, group)
    refused = change_on_page(http, ticket, stage="returned", status_notes="  ")
    assert refused.status_code == 400 and "退回工单须在处理说明中写明退回原因。" in refused.text
    assert read(http, ticket)["stage"] == "received"
    assert change_on_page(http, ticket, stage="returned", status_notes="不属于本社区，已告知居民向区住建局反映"
                          ).status_code == 303
    request = read(http, ticket)
    assert (request["status"], request["stage"]) == ("closed", "returned")
    assert "状态：已受理 → 已退回" in newest_history(http, ticket)
    # A late rating sent the old way (status closed with the rating as notes) keeps it returned.
    update(http, ticket, status="closed", status_notes="居民评价：不满意")
    assert read(http, ticket)["stage"] == "returned"
    header, row = read_csv(http.get("/ledger.csv", params={"group": group}))
    assert row[header.index("状态")] == "已退回"


def test_the_machine_status_extension_takes_an_optional_stage(http):
    ticket = file(http, unique("景湖名都业主群"))
    path = f"/requests/{ticket}/status.json"
    for data, words in [
        ({"stage": "done"}, "stage must be one of received, in_progress, closed, returned"),
        ({"stage": "returned", "status": "open", "status_notes": "重复"}, "stage 'returned' has the Open311 status"),
        ({"stage": "returned"}, "stage 'returned' needs status_notes"),
        ({"stage": "received", "status": "open"}, "stage 'received' is where a ticket starts"),
        ({}, "status is required"),
    ]:
        refused = http.post(path, data={"api_key": API_KEY, **data})
        assert refused.status_code == 400 and words in refused.json()[0]["description"], refused.text
    assert read(http, ticket)["stage"] == "received"
    [answer] = http.post(path, data={"api_key": API_KEY, "stage": "returned", "status_notes": "重复工单"}).json()
    assert (answer["status"], answer["stage"]) == ("closed", "returned")
    # Without a stage, status=open reopens into progress and status=closed closes, as Open311 always did.
    update(http, ticket, status="open", status_notes="复查")
    assert (read(http, ticket)["status"], read(http, ticket)["stage"]) == ("open", "in_progress")
    update(http, ticket, status="closed")
    assert read(http, ticket)["stage"] == "closed"
    update(http, ticket, stage="closed", status="closed", status_notes="已核实")
    assert read(http, ticket)["stage"] == "closed"


def test_a_residents_addition_is_not_staff_action(http):
    ticket = file(http, unique("景湖名都业主群"))
    added = http.post(f"/requests/{ticket}/notes.json", data={"api_key": API_KEY, "note": "车还停在那里"})
    assert added.status_code == 200 and added.json()[0]["stage"] == "received"


def test_the_ledger_filters_by_stage_and_unfinished_means_both_open_stages(http):
    group = unique("彭家场村村民群")
    received, working, done, returned = (file(http, group) for _ in range(4))
    update(http, working, status="open", status_notes="已派人")
    update(http, done, status="closed", status_notes="已处理")
    update(http, returned, stage="returned", status_notes="不属于本辖区")

    def listed(stage: str) -> set[str]:
        return set(ticket_rows(http.get("/", params={"group": group, "stage": stage}).text))

    assert listed("received") == {received} and listed("in_progress") == {working}
    assert listed("closed") == {done} and listed("returned") == {returned}
    assert listed("open") == {received, working}
    page = http.get("/", params={"group": group}).text
    words = dict(re.findall(r'<option value="(\w+)"\s*(?:selected)?>([^<]+)</option>',
                            section(page, 'name="stage"', "</select>")))
    assert words == {"open": "未办结", "received": "已受理", "in_progress": "处理中", "closed": "已办结",
                     "returned": "已退回"}
    header, *rows = read_csv(http.get("/ledger.csv", params={"group": group}))
    assert {row[0]: row[header.index("状态")] for row in rows} == {
        received: "已受理", working: "处理中", done: "已办结", returned: "已退回"}


def test_a_version_3_database_gets_stages_from_what_happened_to_each_ticket(tmp_path):
    db_path = tmp_path / "backend.db"
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        for migration in MIGRATIONS[:3]:
            for statement in _statements(migration):
                conn.execute(statement)
        tickets = {"closed": ("closed", "已修好"), "noted": ("open", "已派人查看"),
                   "acted": ("open", None), "untouched": ("open", None)}
        for n, (name, (status, notes)) in enumerate(tickets.items(), start=1):
            conn.execute("INSERT INTO requests (id, ticket, service_code, description, group_name, status,"
                         " status_notes, agency_responsible, requested_us, updated_us, expected_us, fingerprint)"
                         " VALUES (?, ?, 'water', '水管漏水', '景湖名都业主群', ?, ?, '自来水公司', 1, 3, 9, 'f')",
                         (n, f"GX20260101-000{n}", status, notes))
            conn.execute("INSERT INTO status_history (request_id, at_us, status, agency_responsible, changed_by)"
                         " VALUES (?, 1, 'open', '自来水公司', 'api:1')", (n,))
        conn.execute("INSERT INTO status_history (request_id, at_us, status, status_notes, agency_responsible,"
                     " changed_by, from_status, from_agency) VALUES (1, 2, 'closed', '已修好', '自来水公司', '台账',"
                     " 'open', '自来水公司')")
        # Staff moved ticket 3 to another agency, without notes.
        conn.execute("INSERT INTO status_history (request_id, at_us, status, agency_responsible, changed_by,"
                     " from_status, from_agency) VALUES (3, 2, 'open', '街道物业办', '台账', 'open', '自来水公司')")
        # Ticket 4 only has a resident's addition relayed by the bot.
        conn.execute("INSERT INTO status_history (request_id, at_us, status, status_notes, agency_responsible,"
                     " changed_by, from_status, from_agency) VALUES (4, 2, 'open', '还在漏', '自来水公司', 'api:1',"
                     " 'open', '自来水公司')")
        conn.execute("PRAGMA user_version = 3")
    with BackendProcess(db_path, api_keys=[API_KEY]) as backend, httpx.Client(base_url=backend.base_url) as http:
        found = http.get("/requests.json", params={
            "service_request_id": ",".join(f"GX20260101-000{n}" for n in range(1, 5))}).json()
        assert {r["source"] for r in found} == {"wechat"}  # schema 7: every older ticket came from WeChat
        stages = {r["service_request_id"]: r["stage"] for r in found}
        assert stages == {"GX20260101-0001": "closed", "GX20260101-0002": "in_progress",
                          "GX20260101-0003": "in_progress", "GX20260101-0004": "received"}
        assert log_in(http, add_staff(backend, "admin").username).status_code == 303
        assert "状态：处理中 → 已办结" in http.get("/tickets/GX20260101-0001").text  # as the ledger showed it
        header, *rows = read_csv(http.get("/ledger.csv"))
        assert {row[0]: row[header.index("状态")] for row in rows} == {
            "GX20260101-0001": "已办结", "GX20260101-0002": "处理中", "GX20260101-0003": "处理中",
            "GX20260101-0004": "已受理"}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
