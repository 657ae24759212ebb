"""The backend's SQLite file: durable across restarts, WAL, versioned schema."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from backend.process import BackendProcess
from backend.schema import SCHEMA_VERSION
from tests.backend_fixtures import API_KEY


def file(base_url: str, message_id: str) -> str:
    response = httpx.post(
        base_url + "/requests.json", headers={"Idempotency-Key": message_id},
        data={"api_key": API_KEY, "service_code": "sanitation", "description": "垃圾三天没人收",
              "address_string": "彭家场社区", "attribute[group]": "景湖名都业主群"},
    )
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


def test_tickets_survive_a_restart_and_numbering_carries_on(fresh_tracking_backend):
    backend = fresh_tracking_backend
    first = file(backend.base_url, "m-1")
    backend.stop()
    backend.start()
    assert httpx.get(f"{backend.base_url}/requests/{first}.json").json()[0]["status"] == "open"
    assert file(backend.base_url, "m-1") == first  # the idempotency key outlives the process
    second = file(backend.base_url, "m-2")
    assert int(second[-4:]) == int(first[-4:]) + 1


def test_database_is_in_wal_mode_at_the_current_schema_version(fresh_tracking_backend):
    file(fresh_tracking_backend.base_url, "m-1")
    with sqlite3.connect(fresh_tracking_backend.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        history = conn.execute("SELECT status, changed_by FROM status_history").fetchall()
    assert [status for status, _ in history] == ["open"]
    assert history[0][1].startswith("api:") and API_KEY not in history[0][1]


def test_database_from_a_newer_backend_is_refused(tmp_path):
    db_path = tmp_path / "backend.db"
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    backend = BackendProcess(db_path, api_keys=[API_KEY], startup_timeout=10)
    with pytest.raises(RuntimeError) as caught:
        backend.start()
    assert "is newer than this backend's" in str(caught.value)


def test_a_version_1_database_is_upgraded_with_its_history_kept(tmp_path):
    from backend.schema import MIGRATIONS, _statements
    from tests.backend_fixtures import add_staff, log_in

    db_path = tmp_path / "backend.db"
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        for statement in _statements(MIGRATIONS[0]):
            conn.execute(statement)
        conn.execute("INSERT INTO requests (id, ticket, service_code, description, group_name, status,"
                     " status_notes, agency_responsible, requested_us, updated_us, expected_us, fingerprint)"
                     " VALUES (1, 'GX20260101-0001', 'water', '水管漏水', '景湖名都业主群', 'closed',"
                     " '居民评价：满意', '自来水公司', 1, 3, 2, 'f')")
        conn.executemany(
            "INSERT INTO status_history (request_id, at_us, status, status_notes, agency_responsible, changed_by)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            [(1, "open", None, "自来水公司", "api:1"), (2, "closed", "已修好", "自来水公司", "台账"),
             (3, "closed", "居民评价：满意", "自来水公司", "api:1")])
        conn.execute("PRAGMA user_version = 1")
    with BackendProcess(db_path, api_keys=[API_KEY]) as backend, httpx.Client(base_url=backend.base_url) as http:
        assert log_in(http, add_staff(backend, "admin").username).status_code == 303
        page = http.get("/tickets/GX20260101-0001").text
        assert "状态：处理中 → 已办结" in page and "居民评价：满意" in page
        exported = http.get("/ledger.csv").content.decode("utf-8-sig")
        assert "台账" in exported.splitlines()[1]  # who closed it, from the old history
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT rating, closed_us FROM requests").fetchone() == ("满意", 2)
