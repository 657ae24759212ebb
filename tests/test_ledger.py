"""The ledger (台账) as a grid manager sees it over HTTP: lists, filters, history, CSV export."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest

from tests.backend_fixtures import API_KEY, unique


@pytest.fixture
def http(tracking_backend):
    with httpx.Client(base_url=tracking_backend.base_url) as client:
        yield client


def file(http: httpx.Client, group: str, code: str = "parking",
         description: str = "小区门口乱停车堵住消防通道") -> str:
    response = http.post("/requests.json", data={
        "api_key": API_KEY, "service_code": code, "description": description,
        "address_string": "太湖港街道彭家场社区", "attribute[group]": group,
    })
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


def close(http: httpx.Client, ticket: str, notes: str) -> None:
    response = http.post(f"/requests/{ticket}/status.json",
                         data={"api_key": API_KEY, "status": "closed", "status_notes": notes})
    assert response.status_code == 200


def ticket_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-ticket="([^"]+)">', html)


def test_ledger_lists_tickets_with_group_category_status_and_age(http):
    group = unique("景湖名都业主群")
    ticket = file(http, group)
    page = http.get("/", params={"group": group})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert ticket_rows(page.text) == [ticket]
    row = page.text[page.text.index(f'data-ticket="{ticket}"'):]
    for shown in (group, "停车秩序", "处理中", "交警大队", "0天"):
        assert shown in row[:row.index("</tr>")]
    assert "共 1 件工单" in page.text


def test_ledger_filters_by_group_category_and_status(http):
    group = unique("彭家场村村民群")
    parking, noise = file(http, group), file(http, group, "noise", "隔壁KTV太吵")
    close(http, noise, "已协调降低音量")
    assert set(ticket_rows(http.get("/", params={"group": group}).text)) == {parking, noise}
    assert ticket_rows(http.get("/", params={"group": group, "code": "noise"}).text) == [noise]
    assert ticket_rows(http.get("/", params={"group": group, "status": "open"}).text) == [parking]
    assert ticket_rows(http.get("/", params={"group": group, "age": "3"}).text) == []


def test_ledger_charts_count_tickets_per_category_and_week(http):
    group = unique("景湖名都业主群")
    for _ in range(3):
        file(http, group, "fire", "楼道里给电动车充电")
    page = http.get("/", params={"group": group}).text
    by_category = page[page.index('id="chart-category"'):page.index('id="chart-group"')]
    assert "消防安全" in by_category and "3（未办结 3）" in by_category
    by_week = page[page.index('id="chart-week"'):page.index('id="tickets"')]
    assert "近12周" in by_week and "：3件" in by_week


def test_ticket_page_shows_its_history_newest_first(http):
    ticket = file(http, unique("景湖名都业主群"))
    close(http, ticket, "车辆已挪走")
    page = http.get(f"/tickets/{ticket}").text
    history = page[page.index('id="history"'):]
    assert history.index("车辆已挪走") < history.index("机器人接口")
    assert 'id="ticket-status" class="status-closed">已办结' in page
    assert http.get("/tickets/GX19990101-0001").status_code == 404


def test_ledger_form_changes_status_and_redirects_back(http):
    ticket = file(http, unique("景湖名都业主群"))
    response = http.post(f"/tickets/{ticket}/status",
                         data={"status": "closed", "status_notes": "已处理", "agency_responsible": "物业"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/tickets/{ticket}?saved=1"
    [request] = http.get(f"/requests/{ticket}.json").json()
    assert (request["status"], request["status_notes"], request["agency_responsible"]) == ("closed", "已处理", "物业")


def test_ledger_form_explains_a_bad_status_in_chinese(http):
    ticket = file(http, unique("景湖名都业主群"))
    response = http.post(f"/tickets/{ticket}/status", data={"status": "done"})
    assert response.status_code == 400
    assert "请选择状态：处理中或已办结。" in response.text


def read_csv(response: httpx.Response) -> list[list[str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_export_has_chinese_headers_and_the_filtered_tickets(http):
    group = unique("景湖名都业主群")
    parking, noise = file(http, group), file(http, group, "noise", "楼上半夜装修")
    close(http, noise, "已告知业主")
    response = http.get("/ledger.csv", params={"group": group})
    assert "attachment" in response.headers["content-disposition"]
    header, *rows = read_csv(response)
    assert header[:5] == ["工单号", "群", "类别代码", "类别", "状态"]
    by_ticket = {row[0]: dict(zip(header, row)) for row in rows}
    assert set(by_ticket) == {parking, noise}
    assert by_ticket[noise]["状态"] == "已办结" and by_ticket[noise]["处理说明"] == "已告知业主"
    assert by_ticket[parking]["类别"] == "停车秩序"
    only_open = read_csv(http.get("/ledger.csv", params={"group": group, "status": "open"}))
    assert [row[0] for row in only_open[1:]] == [parking]


def test_csv_export_defuses_formulas_written_by_residents(http):
    group = unique("景湖名都业主群")
    file(http, group, description='=HYPERLINK("http://evil.example","点我")')
    header, row = read_csv(http.get("/ledger.csv", params={"group": group}))
    assert row[header.index("问题描述")].startswith("'=HYPERLINK")


def test_ledger_link_to_csv_keeps_the_filters(http):
    group = unique("景湖名都业主群")
    file(http, group)
    page = http.get("/", params={"group": group, "status": "open"}).text
    link = re.search(r'href="(/ledger\.csv[^"]*)" id="csv-export"', page).group(1).replace("&amp;", "&")
    assert len(read_csv(http.get(link))) == 2


def test_resident_text_is_shown_as_text_never_as_markup(http):
    group = unique("景湖名都业主群")
    ticket = file(http, group, description='<script>alert("x")</script>路灯坏了')
    for page in (http.get("/", params={"group": group}).text, http.get(f"/tickets/{ticket}").text):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert" in page
