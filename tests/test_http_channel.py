"""Every channel heard (issue 16): the intake API and the residents' web form of the `http` channel,
end to end: `python -m bot run` with `channels: [http]`, the real model, a real store and the
reference backend; a third-party client talks plain HTTP to it."""

from __future__ import annotations

import json
import os
import time
import uuid

import httpx
import pytest
import yaml

from backend.process import free_port
from tests.bot_harness import ADMIN, API_KEY, GROUP, MANAGER
from tests.wechat_fixtures import BotProcess, backend_ticket, gateway, wait_until, wechat_model_dir  # noqa: F401

pytestmark = pytest.mark.usefixtures("bot_env")
TOKEN = "test-intake-token-0123456789"
LIGHT = "市民来电：景湖名都3栋2单元楼道的灯坏了一个星期了，晚上上下楼很不方便，老人差点摔倒，希望尽快维修"


def write_config(tmp_path, backend, models, **extra):
    port = free_port()
    data = {"channels": ["http"],
            "groups": [{"name": GROUP, "community": "太湖港街道彭家场社区", "grid_managers": [MANAGER], "mode": "live"}],
            "admins": [ADMIN],
            "tracker": {"base_url": backend.base_url, "api_key_env": "GRIDBOT_TEST_API_KEY", "timeout": 5,
                        "poll_interval": 3600},
            "store": {"path": str(tmp_path / "bot.db")},
            "classifier": {"model_dir": str(models), "ignore_below": 0.45, "auto_ticket": 0.6},
            "http": {"port": port, "token_env": "GRIDBOT_TEST_INTAKE_TOKEN", "form_per_hour": 3}, **extra}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path, f"http://127.0.0.1:{port}"


def running(tmp_path, backend, models):
    """A running bot with the http channel: (base url, BotProcess), stopped cleanly after."""
    path, url = write_config(tmp_path, backend, models)
    bot = BotProcess(path)
    bot.env["GRIDBOT_TEST_INTAKE_TOKEN"] = TOKEN
    bot.start()
    try:
        wait_until(lambda: _up(url), 60, "the http channel to listen")
        yield url, bot
    finally:
        code = bot.stop()
        assert code == 0 and "Traceback" not in bot.log(), bot.log()[-4000:]


@pytest.fixture
def intake(tmp_path, backend, shipped_models):
    """A bot of the test's own (the form's per-address limit counts every post it took)."""
    yield from running(tmp_path, backend, shipped_models[0])


@pytest.fixture(scope="module")
def api_backend(tmp_path_factory):
    from backend.process import BackendProcess

    with BackendProcess(tmp_path_factory.mktemp("api-backend") / "backend.db", api_keys=[API_KEY]) as proc:
        yield proc


@pytest.fixture(scope="module")
def api(tmp_path_factory, api_backend, shipped_models):
    """One bot for the API tests of this module (each uses its own callers, places and ids)."""
    yield from running(tmp_path_factory.mktemp("api-bot"), api_backend, shipped_models[0])


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def post(url: str, body, token: str | None = TOKEN, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + "/v1/messages", json=body, headers=headers, timeout=10, **kwargs)


def status(url: str, key: str) -> dict:
    answer = httpx.get(f"{url}/v1/messages/{key}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def settled(url: str, key: str) -> dict:
    return wait_until(lambda: (lambda s: s if s["state"] not in ("received", "filing") else None)(status(url, key)),
                      30, f"report {key} to settle")


def report(text: str, caller: str | None = None, **fields) -> dict:
    """A hotline report from a caller of its own (callers' follow-ups and hourly limits stay apart)."""
    return {"id": caller or uuid.uuid4().hex, "source": "hotline",
            "reporter": {"id": f"caller-{uuid.uuid4().hex[:8]}", "name": "王先生", "phone": "13812345678"},
            "text": text, **fields}


def test_a_hotline_transcript_becomes_a_ticket_without_a_group_and_a_repeat_call_is_one_ticket(api, api_backend):
    url, _ = api
    backend = api_backend
    body = report(LIGHT, caller="hotline-20261203-0001", place="景湖名都3栋2单元")
    first = post(url, body)
    assert first.status_code == 202 and set(first.json()) == {"id"}, first.text
    key = first.json()["id"]
    found = settled(url, key)
    assert found["state"] == "ticket" and found["category"] == "lighting" and found["status"] == "已受理", found
    number = found["ticket"]
    made = backend_ticket(backend, number)
    assert made["service_code"] == "lighting" and made.get("source") == "hotline", made
    assert "3栋2单元" in made["address"]
    assert "138****5678" in made["description"] and "13812345678" not in made["description"]  # masked on reads
    again = post(url, body)                                   # the operator's system retries the same call
    assert again.status_code == 202 and again.json()["id"] == key
    assert status(url, key)["ticket"] == number
    reused = post(url, {**body, "text": "另一件事：小区东门垃圾没人清"})
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "id_reused"


def test_a_report_of_an_open_problem_joins_its_ticket(api):
    url, _ = api
    first = settled(url, post(url, report(LIGHT, group=GROUP)).json()["id"])
    other = report("3栋2单元楼道灯不亮好几天了，麻烦派人修一下", group=GROUP)
    other["reporter"] = {"id": "caller-0572", "name": "李阿姨"}
    joined = settled(url, post(url, other).json()["id"])
    assert joined["state"] == "joined" and joined["ticket"] == first["ticket"], joined
    assert any(first["ticket"] in text for text in joined["replies"])


def test_an_emergency_on_the_hotline_gets_its_number_back_and_a_ticket(api):
    url, _ = api
    found = settled(url, post(url, report("居民报告：5栋1单元楼道里煤气味很重，好像燃气泄漏了，现在还在漏"))
                    .json()["id"])
    assert found["emergency"] == "gas" and found["ticket"], found
    assert any("燃气" in text or "119" in text for text in found["replies"]), found


def test_what_the_model_doubts_is_held_for_a_person_never_dropped(api):
    url, _ = api
    found = settled(url, post(url, report("来电人咨询社区卫生服务中心周末几点开门")).json()["id"])
    assert found["state"] == "awaiting_review" and found["ticket"] is None, found


BAD = [
    (lambda b: b.pop("text"), 422, "missing_field"),
    (lambda b: b.update(source="fax"), 422, "invalid_source"),
    (lambda b: b.update(group="不存在的群"), 422, "unknown_group"),
    (lambda b: b.update(time="昨天下午"), 422, "invalid_time"),
    (lambda b: b.update(colour="red"), 422, "unknown_field"),
    (lambda b: b["reporter"].pop("name"), 422, "missing_field"),
    (lambda b: b["reporter"].update(phone="call me"), 422, "invalid_field"),
    (lambda b: b.update(text="x" * 20_001), 422, "too_long"),
]


def test_bad_input_gets_a_clear_4xx_in_english_and_chinese_and_changes_nothing(api):
    url, bot = api
    before = bot.rows("SELECT count(*) FROM messages")[0][0]
    for change, status_code, code in BAD:
        body = report(LIGHT)
        change(body)
        answer = post(url, body)
        assert answer.status_code == status_code, (code, answer.text)
        error = answer.json()["error"]
        assert error["code"] == code and error["message"] and error["message_zh"], error
    assert bot.rows("SELECT count(*) FROM messages")[0][0] == before


def test_the_api_needs_its_token_and_json(api):
    url, _ = api
    assert post(url, report(LIGHT), token=None).status_code == 401
    assert post(url, report(LIGHT), token="wrong-token-0123456789").status_code == 401
    answer = httpx.post(url + "/v1/messages", content=b"text=hi", timeout=5,
                        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415
    answer = httpx.post(url + "/v1/messages", content=b"{not json", timeout=5,
                        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    lone = b'{"source": "hotline", "reporter": {"id": "a", "name": "b"}, "text": "\\ud800 broken"}'
    answer = httpx.post(url + "/v1/messages", content=lone, timeout=5,
                        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "text"
    # Numbers for ids and a byte-order mark are what other systems send: taken as they mean.
    body = json.dumps({"id": 20261203001, "source": "platform", "reporter": {"id": 42, "name": "张三"},
                       "text": "小区东门的下水道堵了好几天，污水漫到路上"}, ensure_ascii=False).encode("utf-8")
    answer = httpx.post(url + "/v1/messages", content=b"\xef\xbb\xbf" + body, timeout=10,
                        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json; charset=utf-8"})
    assert answer.status_code == 202, answer.text
    assert httpx.get(url + "/v1/messages/http-nothing", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    spec = httpx.get(url + "/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/v1/messages" in spec["paths"] and "/v1/messages/{id}" in spec["paths"]


def test_nothing_accepted_is_lost_when_the_bot_is_killed_right_after(tmp_path, backend, shipped_models):
    path, url = write_config(tmp_path, backend, shipped_models[0])
    bot = BotProcess(path)
    bot.env["GRIDBOT_TEST_INTAKE_TOKEN"] = TOKEN
    bot.start()
    try:
        wait_until(lambda: _up(url), 60, "the http channel to listen")
        keys = [post(url, report(f"{n}栋门口的路灯坏了好几天了，晚上很黑，麻烦修一下")).json()["id"] for n in range(1, 6)]
        bot.proc.kill()  # no clean shutdown
        bot.proc.wait()
        bot.start()
        wait_until(lambda: _up(url), 60, "the http channel to listen again")
        numbers = {settled(url, key)["ticket"] for key in keys}
        assert len(numbers) == 5 and None not in numbers
    finally:
        bot.stop()


# -- the residents' web form, in Debian's headless Chromium at a phone's width --------------------

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent / "artifacts"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium at /usr/bin/chromium (.ci/run)")
async def test_a_resident_reports_through_the_web_form_on_a_phone(intake, backend):
    from playwright.async_api import async_playwright

    from tests.test_ledger_browser import CHROMIUM_ARGS

    url, _ = intake
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                                device_scale_factor=2, is_mobile=True, has_touch=True)
            page = await context.new_page()
            await page.goto(url + "/report")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            assert "反映问题" in await page.title()
            await page.fill("#text", "小区北门口的路灯坏了好几天了，晚上出门很黑，希望尽快修好")
            await page.fill("#place", "景湖名都北门")
            await page.fill("#phone", "13912345678")
            await page.screenshot(path=str(ARTIFACTS / "report-form-390.png"), full_page=True)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/report/status/**")
            await page.wait_for_function("document.body.innerText.includes('GX')", timeout=20_000)
            text = await page.inner_text("main")
            assert "工单号" in text and "已受理" in text, text
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await page.screenshot(path=str(ARTIFACTS / "report-status-390.png"), full_page=True)
            number = next(word for word in text.split() if word.startswith("GX"))
            made = backend_ticket(backend, number)
            assert made.get("source") == "web" and "北门" in made["address"], made
            await context.close()
        finally:
            await browser.close()


def test_the_form_refuses_a_post_without_its_token_and_limits_each_address(intake):
    import re

    url, bot = intake
    assert httpx.post(url + "/report", data={"text": "路灯坏了好几天了"}, timeout=5).status_code == 403
    with httpx.Client(base_url=url, timeout=10) as browser:
        page = browser.get("/report")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        forged = browser.post("/report", data={"text": "路灯坏了好几天了", "csrf": token},
                              headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403                      # posted from another site
        answers = [browser.post("/report", data={"text": f"{n}号楼门口垃圾堆了三天没人清理", "csrf": token}).status_code
                   for n in range(4)]
    assert answers[:3] == [303, 303, 303] and answers[3] == 429, answers   # form_per_hour: 3
    assert bot.rows("SELECT count(*) FROM messages WHERE source = 'web'")[0][0] == 3


# -- the health alarm on a second channel ---------------------------------------------------------

class Receiver:
    """A local stand-in for the WeCom group robot webhook: keeps every JSON it is sent."""

    def __init__(self):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append((self.path, json.loads(body)))
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key=test-robot-key"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [body["text"]["content"] for _, body in self.received]

    def close(self):
        self.server.shutdown()


def test_admins_are_told_through_the_wecom_robot_when_wechat_is_down_and_again_when_it_is_back(
        tmp_path, gateway, backend, wechat_model_dir):
    from tests.wechat_fixtures import write_config as wechat_config

    receiver = Receiver()
    try:
        path = wechat_config(tmp_path / "config.yaml", gateway.endpoint, backend.base_url, wechat_model_dir)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["alarm"] = {"link_down_minutes": 0.03, "check_seconds": 0.2, "wecom_webhook_env": "GRIDBOT_TEST_ALARM_URL"}
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        bot = BotProcess(path)
        bot.env["GRIDBOT_TEST_ALARM_URL"] = receiver.url
        bot.start()
        try:
            gateway.wait_connected(timeout=60)
            time.sleep(1.5)
            assert receiver.texts() == []                     # all well: nothing said
            gateway.kill()
            alarm = wait_until(lambda: [t for t in receiver.texts() if "告警" in t], 30, "the alarm")
            assert len(alarm) == 1 and "微信连接已中断" in alarm[0], receiver.texts()
            assert receiver.received[0][0].endswith("key=test-robot-key")
            time.sleep(1.0)
            assert len(receiver.texts()) == 1                 # once, not at every check
            gateway.start()
            back = wait_until(lambda: [t for t in receiver.texts() if "恢复" in t], 60, "the all-clear")
            assert len(back) == 1 and "微信连接已恢复" in back[0]
        finally:
            assert bot.stop() == 0
    finally:
        receiver.close()


async def test_admins_are_told_when_the_backend_refuses_tickets_and_when_that_is_cleared(tmp_path, backend,
                                                                                         shipped_models, monkeypatch):
    from bot import tickets
    from bot.alarm import Alarm
    from tests.bot_harness import running_bot, settings_for
    from tests.backend_fixtures import Canned
    from tests.fault_tools import FaultyProxy

    receiver = Receiver()
    refusing = True

    def plan(number: int, line: str):
        return Canned.status(400, "Bad Request") if refusing and line == "POST /requests.json" else None

    try:
        async with FaultyProxy(backend.port, plan=plan) as proxy:
            settings = settings_for(tmp_path, proxy.base_url, shipped_models[0],
                                    alarm={"wecom_webhook_env": "GRIDBOT_TEST_ALARM_URL"})
            monkeypatch.setenv("GRIDBOT_TEST_ALARM_URL", receiver.url)
            async with running_bot(settings) as chat:
                alarm = Alarm(settings, chat.bot.store, None)
                assert await alarm.check() == []
                await chat.say("王女士", LIGHT)
                await chat.settle()
                raised = await alarm.check()
                assert len(raised) == 1 and "拒收" in raised[0] and receiver.texts() == raised
                assert await alarm.check() == []                      # once
                refusing = False
                assert await tickets.requeue(chat.bot.store) == 1     # the admin's 重新提交
                await chat.settle()
                cleared = await alarm.check()
                assert len(cleared) == 1 and "恢复" in cleared[0], receiver.texts()
    finally:
        receiver.close()


def test_a_port_in_use_stops_start_up_with_a_clear_error(tmp_path, backend, shipped_models):
    import socket
    import subprocess
    import sys

    from tests.wechat_fixtures import ROOT

    path, url = write_config(tmp_path, backend, shipped_models[0])
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        done = subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(path)], cwd=ROOT, timeout=120,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              env={**os.environ, "GRIDBOT_TEST_INTAKE_TOKEN": TOKEN, "GRIDBOT_TEST_API_KEY": API_KEY})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"http.port: cannot listen on 127.0.0.1:{port}" in done.stderr


class SmtpReceiver:
    """A local SMTP server (plain, no TLS) keeping each message's DATA: the alarm's email channel."""

    def __init__(self):
        import socketserver
        import threading

        mails = self.mails = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 localhost ESMTP test\r\n")
                data, in_data = [], False
                for raw in self.rfile:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if in_data:
                        if line == ".":
                            mails.append("\n".join(data))
                            data, in_data = [], False
                            self.wfile.write(b"250 queued\r\n")
                        else:
                            data.append(line)
                        continue
                    verb = line[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.wfile.write(b"250 localhost\r\n")
                    elif verb == "DATA":
                        in_data = True
                        self.wfile.write(b"354 go ahead\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


async def test_the_alarm_can_go_by_email(tmp_path, backend, shipped_models):
    import email
    import email.policy

    from bot.alarm import Alarm
    from tests.bot_harness import running_bot, settings_for

    smtp = SmtpReceiver()
    try:
        settings = settings_for(tmp_path, backend.base_url, shipped_models[0], alarm={"email": {
            "host": "127.0.0.1", "port": smtp.port, "starttls": False, "sender": "gridbot@district.example",
            "to": ["admin@district.example", "duty@district.example"]}})
        async with running_bot(settings) as chat:
            alarm = Alarm(settings, chat.bot.store, None)
            assert await alarm.notify("【网格助手告警】测试：有 1 条工单操作被工单系统拒收")
        [raw] = smtp.mails
        mail = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.default)
        assert mail["To"] == "admin@district.example, duty@district.example"
        assert "拒收" in mail.get_content() and "告警" in mail["Subject"]
        smtp.close()
        async with running_bot(settings) as chat:  # the mail server gone: False, and the next check tries again
            assert not await Alarm(settings, chat.bot.store, None).notify("【网格助手告警】测试")
    finally:
        try:
            smtp.close()
        except OSError:
            pass
