"""The ledger (台账) as staff use it over HTTP at the weekly meeting: lists, filters, search,
overdue first, closed this week, satisfaction, charts, history and CSV export."""

from __future__ import annotations

import csv
import io
import re
import sqlite3

import httpx
import pytest

from backend import clock
from tests.backend_fixtures import API_KEY, login_token, unique


@pytest.fixture
def http(ledger_admin):
    return ledger_admin


def file(http: httpx.Client, group: str, code: str = "parking",
         description: str = "小区门口乱停车堵住消防通道") -> str:
    response = http.post("/requests.json", data={
        "api_key": API_KEY, "service_code": code, "description": description,
        "address_string": "太湖港街道彭家场社区", "attribute[group]": group,
    })
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


def update(http: httpx.Client, ticket: str, **fields) -> None:
    response = http.post(f"/requests/{ticket}/status.json", data={"api_key": API_KEY, **fields})
    assert response.status_code == 200, response.text


def close(http: httpx.Client, ticket: str, notes: str) -> None:
    update(http, ticket, status="closed", status_notes=notes)


def backdate(db_path, ticket: str, days: int) -> None:
    """Make a ticket look filed `days` ago (its deadline moves with it), as if time had passed."""
    shift = days * clock.US_PER_DAY
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE requests SET requested_us = requested_us - ?, expected_us = expected_us - ?,"
                     " updated_us = updated_us - ? WHERE ticket = ?", (shift, shift, shift, ticket))


def ticket_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-ticket="([^"]+)"', html)


def section(html: str, start: str, end: str) -> str:
    """The part of a page from `start` to the first `end` after it."""
    begin = html.index(start)
    return html[begin:html.index(end, begin)]


def test_ledger_lists_tickets_with_group_category_status_and_age(http):
    group = unique("景湖名都业主群")
    ticket = file(http, group)
    page = http.get("/", params={"group": group})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert ticket_rows(page.text) == [ticket]
    row = page.text[page.text.index(f'data-ticket="{ticket}"'):]
    for shown in (group, "停车秩序", "已受理", "交警大队", "0天"):
        assert shown in row[:row.index("</tr>")]
    assert "共 1 件工单" in page.text


def test_ledger_filters_by_group_category_and_status(http):
    group = unique("彭家场村村民群")
    parking, noise = file(http, group), file(http, group, "noise", "隔壁KTV太吵")
    close(http, noise, "已协调降低音量")
    assert set(ticket_rows(http.get("/", params={"group": group}).text)) == {parking, noise}
    assert ticket_rows(http.get("/", params={"group": group, "code": "noise"}).text) == [noise]
    assert ticket_rows(http.get("/", params={"group": group, "stage": "open"}).text) == [parking]
    assert ticket_rows(http.get("/", params={"group": group, "age": "3"}).text) == []


def test_text_search_finds_tickets_by_words_of_the_description_or_notes(http):
    group = unique("景湖名都业主群")
    lamp, water = file(http, group, "lighting", "5栋门口路灯不亮"), file(http, group, "water", "水管爆了")
    close(http, water, "已联系自来水公司抢修")
    assert ticket_rows(http.get("/", params={"group": group, "q": "路灯"}).text) == [lamp]
    assert ticket_rows(http.get("/", params={"group": group, "q": "抢修"}).text) == [water]
    assert ticket_rows(http.get("/", params={"q": lamp}).text) == [lamp]


def test_open_tickets_come_overdue_first_then_oldest_first(http, tracking_backend):
    group = unique("景湖名都业主群")
    fresh = file(http, group, "noise", "楼上装修")                   # 7 days to go
    old = file(http, group, "noise", "广场舞音响太响")                  # filed 5 days ago, 2 days left
    late = file(http, group, "fire", "楼道堆放杂物堵塞消防通道")        # deadline 1 day: overdue
    done = file(http, group, "parking")
    backdate(tracking_backend.db_path, old, 5)
    backdate(tracking_backend.db_path, late, 2)
    close(http, done, "已挪车")
    page = http.get("/", params={"group": group}).text
    assert ticket_rows(page) == [late, old, fresh, done]
    late_row = page[page.index(f'data-ticket="{late}"'):]
    assert "已超期" in late_row[:late_row.index("</tr>")]  # 2 days past filing: 督办 as well
    assert ticket_rows(http.get("/", params={"group": group, "age": "overdue"}).text) == [late]
    assert ticket_rows(http.get("/", params={"group": group, "order": "newest"}).text)[0] == done
    assert re.search(r'id="count-overdue">1<', page) and re.search(r'id="count-open">3<', page)


def test_tickets_closed_this_week_are_counted_and_listed(http, tracking_backend):
    group = unique("景湖名都业主群")
    closed_now, still_open = file(http, group), file(http, group, "noise", "夜里施工")
    close(http, closed_now, "已处理")
    page = http.get("/", params={"group": group}).text
    assert re.search(r'id="count-closed-week">1<', page)
    assert re.search(r'id="count-new-week">2<', page)
    assert ticket_rows(http.get("/", params={"group": group, "period": "closed_week"}).text) == [closed_now]
    assert still_open in ticket_rows(http.get("/", params={"group": group, "period": "new_week"}).text)


def test_residents_ratings_show_as_satisfaction_per_category(http):
    group = unique("景湖名都业主群")
    lamps = [file(http, group, "lighting", f"{n}栋路灯坏了") for n in (1, 2, 3)]
    for ticket in lamps:
        close(http, ticket, "已更换灯泡")
    # As the bot sends them: a status update whose notes carry the rating, or an explicit field.
    update(http, lamps[0], status="closed", status_notes="居民评价：满意")
    update(http, lamps[1], status="closed", status_notes="居民评价：满意", rating="满意")
    update(http, lamps[2], status="closed", status_notes="居民评价：不满意")
    page = http.get("/", params={"group": group}).text
    table = section(page, 'id="chart-satisfaction"', 'id="chart-week"')
    row = table[table.index('data-code="lighting"'):]
    assert re.search(r"路灯照明</td><td>2</td><td>1</td>\s*<td[^>]*>67%</td>", row)
    assert re.search(r'id="satisfaction-rate">67%<', page)
    # Open311 clients read the rating as the bot sent it; the history keeps the staff's notes too.
    [seen] = http.get(f"/requests/{lamps[0]}.json").json()
    assert seen["status_notes"] == "居民评价：满意"
    history = section(http.get(f"/tickets/{lamps[0]}").text, 'id="history"', "</table>")
    assert history.index("居民评价：满意") < history.index("已更换灯泡")


def test_a_rating_other_than_the_two_known_is_refused(http):
    ticket = file(http, unique("景湖名都业主群"))
    response = http.post(f"/requests/{ticket}/status.json",
                         data={"api_key": API_KEY, "status": "closed", "rating": "还行"})
    assert response.status_code == 400 and "rating must be one of" in response.json()[0]["description"]


def test_ledger_charts_count_tickets_per_category_and_week(http):
    group = unique("景湖名都业主群")
    for _ in range(3):
        file(http, group, "fire", "楼道里给电动车充电")
    page = http.get("/", params={"group": group}).text
    by_category = section(page, 'id="chart-category"', 'id="chart-group"')
    assert "消防安全" in by_category and "3（未办结 3）" in by_category
    by_week = section(page, 'id="chart-week"', 'id="chart-category-week"')
    assert "近12周" in by_week and "：3件" in by_week
    matrix = section(page, 'id="chart-category-week"', 'id="tickets"')
    fire = matrix[matrix.index('data-code="fire"'):]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", fire[:fire.index("</tr>")])
    assert cells[0] == "消防安全" and cells[-2:] == ["3", "3"] and len(cells) == 14


def test_ticket_page_shows_its_history_newest_first(http):
    ticket = file(http, unique("景湖名都业主群"))
    close(http, ticket, "车辆已挪走")
    page = http.get(f"/tickets/{ticket}").text
    rows = re.findall(r"<tr>(.*?)</tr>", section(page, 'id="history"', "</table>"), re.S)
    assert "状态：已受理 → 已办结" in rows[1] and "车辆已挪走" in rows[1] and "机器人接口" in rows[1]
    assert "受理" in rows[2]
    assert 'id="ticket-status" class="stage-closed">已办结' in page
    assert http.get("/tickets/GX19990101-0001").status_code == 404


def change_on_page(http: httpx.Client, ticket: str, **fields) -> httpx.Response:
    token = login_token(http.get(f"/tickets/{ticket}").text)
    return http.post(f"/tickets/{ticket}/status", data={"csrf_token": token, **fields})


def test_ledger_form_changes_status_and_redirects_back(http, ledger_admin_account):
    ticket = file(http, unique("景湖名都业主群"))
    response = change_on_page(http, ticket, stage="closed", status_notes="已处理", agency_responsible="物业")
    assert response.status_code == 303
    assert response.headers["location"] == f"/tickets/{ticket}?saved=1"
    [request] = http.get(f"/requests/{ticket}.json").json()
    assert (request["status"], request["status_notes"], request["agency_responsible"]) == ("closed", "已处理", "物业")
    page = http.get(f"/tickets/{ticket}").text
    newest = re.findall(r"<tr>(.*?)</tr>", section(page, 'id="history"', "</table>"), re.S)[1]
    assert ledger_admin_account.label in newest
    assert "状态：已受理 → 已办结" in newest and "转派：交警大队 → 物业" in newest


def test_ledger_form_explains_a_bad_status_or_no_change_in_chinese(http):
    ticket = file(http, unique("景湖名都业主群"))
    response = change_on_page(http, ticket, stage="done")
    assert response.status_code == 400
    assert "请选择状态：处理中、已办结、已退回。" in response.text
    update(http, ticket, status="open", status_notes="已联系车主")  # now in progress
    unchanged = change_on_page(http, ticket, stage="in_progress", agency_responsible="交警大队", status_notes="")
    assert unchanged.status_code == 400 and "没有需要保存的变更" in unchanged.text


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
    assert header[:6] == ["工单号", "群", "来源", "类别代码", "类别", "状态"]
    by_ticket = {row[0]: dict(zip(header, row)) for row in rows}
    assert set(by_ticket) == {parking, noise}
    assert by_ticket[noise]["状态"] == "已办结" and by_ticket[noise]["处理说明"] == "已告知业主"
    assert by_ticket[noise]["办结人"] == "机器人接口" and by_ticket[noise]["办结时间"]
    assert by_ticket[parking]["类别"] == "停车秩序" and by_ticket[parking]["办结人"] == ""
    only_open = read_csv(http.get("/ledger.csv", params={"group": group, "stage": "open"}))
    assert [row[0] for row in only_open[1:]] == [parking]


def test_csv_export_names_the_staff_member_who_closed_each_ticket(http, ledger_admin_account):
    group = unique("景湖名都业主群")
    ticket = file(http, group)
    assert change_on_page(http, ticket, stage="closed", status_notes="已处理").status_code == 303
    header, row = read_csv(http.get("/ledger.csv", params={"group": group}))
    assert row[header.index("办结人")] == ledger_admin_account.label


def test_csv_export_defuses_formulas_written_by_residents(http):
    group = unique("景湖名都业主群")
    file(http, group, description='=HYPERLINK("http://evil.example","点我")')
    header, row = read_csv(http.get("/ledger.csv", params={"group": group}))
    assert row[header.index("问题描述")].startswith("'=HYPERLINK")


def test_ledger_link_to_csv_keeps_the_filters(http):
    group = unique("景湖名都业主群")
    file(http, group)
    page = http.get("/", params={"group": group, "stage": "open"}).text
    link = re.search(r'href="(/ledger\.csv[^"]*)" id="csv-export"', page).group(1).replace("&amp;", "&")
    assert len(read_csv(http.get(link))) == 2


def test_resident_text_is_shown_as_text_never_as_markup(http):
    group = unique("景湖名都业主群")
    ticket = file(http, group, description='<script>alert("x")</script>路灯坏了')
    for page in (http.get("/", params={"group": group}).text, http.get(f"/tickets/{ticket}").text):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert" in page
