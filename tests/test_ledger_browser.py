"""A grid manager uses the ledger in a real browser (Debian's headless Chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.tracker import TrackerClient
from tests.backend_fixtures import API_KEY, FAST_RETRY, unique

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does this)",
)


@pytest.fixture
async def page():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


@pytest.fixture
async def client(tracking_backend):
    async with TrackerClient(tracking_backend.base_url, API_KEY, retry=FAST_RETRY) as client:
        yield client


async def file_complaint(client: TrackerClient, group: str) -> str:
    made = await client.create("lighting", "3栋楼道的路灯坏了一个星期", address_string="彭家场社区",
                               group=group, message_id=unique("msg"))
    return made.service_request_id


async def test_grid_manager_closes_a_ticket_through_the_ledger_form(tracking_backend, client, page):
    base_url = tracking_backend.base_url
    group = unique("景湖名都业主群")
    ticket = await file_complaint(client, group)

    await page.goto(base_url + "/")
    await page.select_option("select[name=group]", group)
    await page.click("button[type=submit]")
    row = page.locator(f'tr[data-ticket="{ticket}"]')
    assert await row.locator(".status").inner_text() == "处理中"

    await row.locator("a").click()
    await page.wait_for_url(f"**/tickets/{ticket}")
    assert await page.inner_text("#ticket-number") == ticket
    await page.select_option("#status-select", "closed")
    await page.fill("#agency-input", "供电所")
    await page.fill("#notes-input", "路灯已更换灯泡")
    await page.click("#save-status")

    await page.wait_for_url(f"**/tickets/{ticket}?saved=1")
    assert await page.inner_text("#saved") == "已保存。"
    assert await page.inner_text("#ticket-status") == "已办结"
    assert await page.inner_text("#ticket-notes") == "路灯已更换灯泡"
    newest = await page.locator("#history tbody tr").first.inner_text()
    assert "已办结" in newest and "路灯已更换灯泡" in newest and "台账" in newest

    seen = await client.get(ticket)  # what the bot's status poller will read
    assert (seen.status, seen.status_notes, seen.agency_responsible) == ("closed", "路灯已更换灯泡", "供电所")

    await page.goto(f"{base_url}/?group={group}&status=closed")
    assert await page.locator(f'tr[data-ticket="{ticket}"] .status').inner_text() == "已办结"


async def test_ledger_form_error_keeps_what_was_typed(tracking_backend, client, page):
    ticket = await file_complaint(client, unique("景湖名都业主群"))
    await page.goto(f"{tracking_backend.base_url}/tickets/{ticket}")
    await page.fill("#notes-input", "说" * 2001)
    await page.click("#save-status")
    assert "处理说明不能超过2000字" in await page.inner_text("#form-error")
    assert len(await page.input_value("#notes-input")) == 2001
    assert await page.inner_text("#ticket-status") == "处理中"
