"""Staff use the ledger in a real browser (Debian's headless Chromium): log in, see only their own
groups, close a ticket with a note, find it in the history, export CSV, log out; and the browser
is refused for a wrong password, an expired session and a form without its CSRF token.

The run leaves screenshots of a grid manager's ledger and of a ticket page in tests/artifacts/
(ledger.png, ticket.png, and as a phone shows them at 390 CSS pixels ledger-390.png and
ticket-390.png; git-ignored) for people to look at."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from backend import clock
from backend.process import BackendProcess
from bot.tracker import TrackerClient
from tests.backend_fixtures import API_KEY, FAST_RETRY, PASSWORD, add_staff, backend_config, unique

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does this)",
)


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
async def client(tracking_backend):
    async with TrackerClient(tracking_backend.base_url, API_KEY, retry=FAST_RETRY) as client:
        yield client


async def file_complaint(client: TrackerClient, group: str, code: str = "lighting",
                         text: str = "3栋楼道的路灯坏了一个星期") -> str:
    made = await client.create(code, text, address_string="彭家场社区", group=group, message_id=unique("msg"))
    return made.service_request_id


async def log_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(base_url + "/")
    await page.wait_for_url("**/login?next=/")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-button")


async def test_grid_manager_works_through_the_ledger_and_logs_out(tracking_backend, client, page):
    base_url = tracking_backend.base_url
    group, neighbours, elsewhere = unique("景湖名都业主群"), unique("彭家场村村民群"), unique("别人的群")
    manager = add_staff(tracking_backend, groups=[group, neighbours], name="李明")
    ticket = await file_complaint(client, group)
    await meeting_week(client, tracking_backend.db_path, group, neighbours)
    foreign = await file_complaint(client, elsewhere, "noise", "别的群的噪音投诉")

    await log_in(page, base_url, manager.username)
    await page.wait_for_url(base_url + "/")
    assert "李明（网格员）" in await page.inner_text("#who")
    groups = await page.locator("select[name=group] option").all_inner_texts()
    assert groups == ["全部", *sorted([group, neighbours])]
    assert await page.locator(f'tr[data-ticket="{foreign}"]').count() == 0
    assert elsewhere not in await page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "ledger.png"), full_page=True)

    await page.select_option("select[name=group]", group)
    await page.click("#apply-filters")
    row = page.locator(f'tr[data-ticket="{ticket}"]')
    assert await row.locator(".status").inner_text() == "已受理"
    await row.locator("a").click()
    await page.wait_for_url(f"**/tickets/{ticket}")
    await page.select_option("#status-select", "closed")
    await page.fill("#agency-input", "供电所")
    await page.fill("#notes-input", "路灯已更换灯泡")
    await page.click("#save-status")

    await page.wait_for_url(f"**/tickets/{ticket}?saved=1")
    assert await page.inner_text("#saved") == "已保存。"
    assert await page.inner_text("#ticket-status") == "已办结"
    newest = await page.locator("#history tbody tr").first.inner_text()
    for said in ("李明", manager.username, "状态：已受理 → 已办结", "转派：城管局市政设施科 → 供电所", "路灯已更换灯泡"):
        assert said in newest
    await page.screenshot(path=str(ARTIFACTS / "ticket.png"), full_page=True)
    seen = await client.get(ticket)  # what the bot's status poller will read
    assert (seen.status, seen.status_notes, seen.agency_responsible) == ("closed", "路灯已更换灯泡", "供电所")

    await page.goto(f"{base_url}/?group={group}&stage=closed")
    async with page.expect_download() as download_info:
        await page.click("#csv-export")
    download = await download_info.value
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text(encoding="utf-8-sig"))))
    closed_by = {r["工单号"]: (r["状态"], r["办结人"]) for r in rows}
    assert closed_by[ticket] == ("已办结", manager.label)

    await page.click("#logout")
    await page.wait_for_url("**/login?notice=out")
    assert await page.inner_text("#login-message") == "您已退出登录。"
    await page.goto(f"{base_url}/tickets/{ticket}")
    assert "/login?next=" in page.url


async def meeting_week(client: TrackerClient, db_path: Path, group: str, neighbours: str) -> None:
    """A plausible week of two groups, so that the screenshot shows every part of the ledger."""
    made = []
    for where, code, text in [
        (group, "fire", "5栋楼道堆满纸箱，堵住了消防通道"), (group, "parking", "小区门口有车乱停，电话13812345678"),
        (group, "sanitation", "垃圾桶满了两天没人清运"), (group, "noise", "楼上晚上十一点还在装修"),
        (neighbours, "water", "村东头水管漏水"), (neighbours, "road", "村口的路面塌了一个坑"),
        (neighbours, "lighting", "村委会门口路灯不亮"), (group, "property", "电梯经常停运，物业不管"),
    ]:
        made.append(await file_complaint(client, where, code, text))
    with sqlite3.connect(db_path) as conn:  # as if they had come in over past weeks
        for ticket, days in zip(made, (3, 9, 2, 20, 12, 30, 1, 5)):
            shift = days * clock.US_PER_DAY
            conn.execute("UPDATE requests SET requested_us = requested_us - ?, expected_us = expected_us - ?,"
                         " updated_us = updated_us - ? WHERE ticket = ?", (shift, shift, shift, ticket))
    for ticket, rating in ((made[3], "满意"), (made[5], "不满意"), (made[4], "满意")):
        await client.update(ticket, "closed", status_notes="已处理完毕", idempotency_key=unique("k"))
        await client.update(ticket, "closed", status_notes=f"居民评价：{rating}", idempotency_key=unique("k"))


async def test_a_wrong_password_keeps_the_browser_on_the_login_page(tracking_backend, page):
    manager = add_staff(tracking_backend, groups=[unique("景湖名都业主群")])
    await log_in(page, tracking_backend.base_url, manager.username, "wrong-password-123")
    assert await page.inner_text("#login-message") == "用户名或密码错误。"
    assert await page.input_value("#username") == manager.username
    assert await page.input_value("#password") == ""
    await page.goto(tracking_backend.base_url + "/")
    assert "/login" in page.url


async def test_an_expired_session_sends_the_browser_back_to_the_login_page(tmp_path, page):
    config = backend_config(tmp_path, session_idle_minutes=0.02)  # 1.2 seconds
    with BackendProcess(tmp_path / "backend.db", api_keys=[API_KEY], config=config) as backend:
        manager = add_staff(backend, groups=["景湖名都业主群"])
        await log_in(page, backend.base_url, manager.username)
        await page.wait_for_url(backend.base_url + "/")
        await page.wait_for_timeout(1600)
        await page.click("#apply-filters")
        await page.wait_for_url("**/login?**notice=expired")
        assert await page.inner_text("#login-message") == "登录已超时，请重新登录。"


async def test_a_form_without_its_csrf_token_is_refused(tracking_backend, client, browser, page):
    base_url = tracking_backend.base_url
    group = unique("景湖名都业主群")
    manager = add_staff(tracking_backend, groups=[group])
    ticket = await file_complaint(client, group)
    await log_in(page, base_url, manager.username)
    await page.wait_for_url(base_url + "/")
    await page.goto(f"{base_url}/tickets/{ticket}")
    # The form tampered with: its token removed (as a form forged elsewhere would lack it).
    await page.locator("#status-form input[name=csrf_token]").evaluate("input => input.remove()")
    await page.select_option("#status-select", "closed")
    await page.click("#save-status")
    assert "缺少安全令牌" in await page.inner_text("#refused")
    assert (await client.get(ticket)).status == "open"

    # A page on another site that posts to the ledger: the session cookie is not even sent along.
    forger = await page.context.new_page()
    await forger.set_content(
        f'<form method="post" action="{base_url}/tickets/{ticket}/status">'
        '<input name="stage" value="closed"><button id="go">go</button></form>')
    async with forger.expect_response(lambda r: r.request.method == "POST") as posted:
        await forger.click("#go")
    answer = await posted.value
    assert answer.status == 303 and answer.headers["location"].startswith("/login")
    assert (await client.get(ticket)).status == "open"


PHONE = {"width": 390, "height": 844}


async def page_width(page) -> int:
    return await page.evaluate("document.documentElement.scrollWidth")


async def right_edges(page, selector: str) -> list[float]:
    """Where the visible elements matching `selector` end on the page, in CSS pixels."""
    return await page.eval_on_selector_all(
        selector, "els => els.filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().right)")


async def test_the_ledger_and_a_ticket_work_on_a_phone(tracking_backend, client, browser):
    """At 390 CSS pixels (a phone): no sideways scrolling, tickets as cards, summaries in their own
    boxes, forms that fit and work. Leaves ledger-390.png and ticket-390.png in tests/artifacts/."""
    base_url = tracking_backend.base_url
    group, neighbours = unique("景湖名都业主群"), unique("彭家场村村民群")
    manager = add_staff(tracking_backend, groups=[group, neighbours], name="李明")
    ticket = await file_complaint(client, group, "parking",
                                  "小区东门外长期有外来车辆乱停，堵住了消防通道，救护车进不来，电话13812345678")
    await meeting_week(client, tracking_backend.db_path, group, neighbours)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                        locale="zh-CN")
    try:
        page = await context.new_page()
        await log_in(page, base_url, manager.username)
        await page.wait_for_url(base_url + "/")
        assert await page_width(page) <= 390
        # The list is cards: one block per ticket, no table header row on a phone.
        assert not await page.locator("#tickets thead").is_visible()
        card = page.locator(f'tr[data-ticket="{ticket}"]')
        assert (await card.bounding_box())["width"] <= 390
        assert "已受理" in await card.inner_text() and "停车秩序" in await card.inner_text()
        assert max(await right_edges(page, "form.filters select, form.filters input, form.filters button")) <= 390
        for chart in ("#chart-category-week", "#chart-week"):
            assert (await page.locator(chart).bounding_box())["width"] <= 390
        # The category × week table is wider than a phone: it scrolls inside its own box.
        assert await page.eval_on_selector("#chart-category-week .scroll-box",
                                           "box => box.scrollWidth > box.clientWidth")
        assert await page.is_visible("#chart-category-week .narrow-only")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "ledger-390.png"), full_page=True)

        await page.select_option("select[name=stage]", "open")
        await page.click("#apply-filters")
        await card.locator("a").first.click()
        await page.wait_for_url(f"**/tickets/{ticket}")
        assert await page_width(page) <= 390
        assert max(await right_edges(page, "form.change select, form.change input, form.change textarea, "
                                           "form.change button, #history td")) <= 390
        await page.fill("#notes-input", "已联系交警，今天下午来拖车")
        await page.click("#save-status")
        await page.wait_for_url(f"**/tickets/{ticket}?saved=1")
        assert await page.inner_text("#ticket-status") == "处理中"
        assert await page_width(page) <= 390
        await page.screenshot(path=str(ARTIFACTS / "ticket-390.png"), full_page=True)
    finally:
        await context.close()
