"""The health alarm: admins are told, through something that does not depend on WeChat, when intake
is in trouble, once when it starts and once when it is over.

Two troubles are watched (`alarm:` in config.yaml):
- the WeChat link has been down longer than `alarm.link_down_minutes`;
- the outbox has set calls aside that the tracking backend refused (tickets that did not reach it).

The message goes to a WeCom group robot (企业微信群机器人: an official, push-only webhook whose URL,
with its key, is read from the environment variable `alarm.wecom_webhook_env`) and/or by email
(`alarm.email`). A raised alarm is remembered in the store, so a restart during an outage does
not raise it again; a message that could not be sent is tried again at the next check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import time
from email.message import EmailMessage

import httpx

from bot.store import now_iso

log = logging.getLogger(__name__)
LINK, OUTBOX = "link", "outbox"


class Alarm:
    def __init__(self, settings, store, channel):
        self.settings, self.options, self.store, self.channel = settings, settings.alarm, store, channel

    async def troubles(self, now: float | None = None) -> dict[str, str | None]:
        """Each watched trouble: a description while it lasts, None when all is well."""
        now = time.monotonic() if now is None else now
        found: dict[str, str | None] = {}
        probe = getattr(self.channel, "link_down_since", None)
        if probe is not None and "wechaty" in self.settings.channels:
            since = probe()
            minutes = None if since is None else (now - since) / 60
            found[LINK] = None if minutes is None or minutes < self.options.link_down_minutes else \
                f"微信连接已中断 {minutes:.0f} 分钟（木偶服务 {self.settings.wechaty.endpoint}），群消息暂时收不到。" \
                f"热线、政务平台和网页反映不受影响。"
        row = await self.store.one("SELECT count(*) AS n FROM outbox WHERE failed_at IS NOT NULL AND done_at IS NULL")
        found[OUTBOX] = None if not row["n"] else \
            f"有 {row['n']} 条工单操作被工单系统拒收，未能送达。请管理员发送「故障」查看，修复后「重新提交」。"
        return found

    async def check(self, now: float | None = None) -> list[str]:
        """Raise or clear each alarm as its trouble starts or ends; returns the messages sent."""
        sent = []
        for name, trouble in (await self.troubles(now)).items():
            raised = await self.store.meta(f"alarm:{name}")
            if trouble and not raised:
                text = f"【网格助手告警】{trouble}"
            elif raised and not trouble:
                text = f"【网格助手恢复】{_RECOVERED[name]}（告警发出于 {raised[:16].replace('T', ' ')} UTC）"
            else:
                continue
            if await self.notify(text):
                await self._remember(name, now_iso() if trouble else None)
                sent.append(text)
        return sent

    async def notify(self, text: str) -> bool:
        """Send to every configured way; True when at least one took it."""
        ok = False
        if self.options.wecom_webhook_env:
            ok |= await self._webhook(text)
        if self.options.email is not None:
            ok |= await asyncio.to_thread(self._email, text)
        return ok

    async def _webhook(self, text: str) -> bool:
        url = os.environ.get(self.options.wecom_webhook_env, "").strip()
        if not url:
            log.error("alarm: environment variable %s (the WeCom robot's webhook URL) is not set",
                      self.options.wecom_webhook_env)
            return False
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.post(url, json={"msgtype": "text", "text": {"content": text}})
            answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("alarm: the WeCom robot webhook failed: %s", type(exc).__name__)
            return False
        if response.status_code != 200 or answer.get("errcode", 0) != 0:
            log.warning("alarm: the WeCom robot refused the message: HTTP %d %s", response.status_code,
                        answer.get("errmsg", ""))
            return False
        return True

    def _email(self, text: str) -> bool:
        mail = self.options.email
        message = EmailMessage()
        message["Subject"] = text.split("】", 1)[0].lstrip("【") or "网格助手告警"
        message["From"], message["To"] = mail.sender, ", ".join(mail.to)
        message.set_content(text)
        try:
            with smtplib.SMTP(mail.host, mail.port, timeout=15) as smtp:
                if mail.starttls:
                    smtp.starttls()
                if mail.username_env:
                    smtp.login(os.environ.get(mail.username_env, ""),
                               os.environ.get(mail.password_env or "", ""))
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("alarm: sending the email failed: %s", exc)
            return False
        return True

    async def _remember(self, name: str, raised: str | None) -> None:
        async with self.store.transaction() as db:
            await self.store._set_meta(db, f"alarm:{name}", raised)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                for text in await self.check():
                    log.warning("alarm sent: %s", text)
            except Exception:  # noqa: BLE001 - the next check tries again
                log.exception("the health alarm check failed")
            try:
                await asyncio.wait_for(stop.wait(), self.options.check_seconds)
            except asyncio.TimeoutError:
                pass


_RECOVERED = {LINK: "微信连接已恢复，群消息正常接收。", OUTBOX: "被拒收的工单操作已处理完，工单系统正常。"}
