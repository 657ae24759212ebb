"""WeCom (企业微信) groups reach gridbot through the same adapter: a puppet service for WeCom speaks
the same puppet-service gRPC protocol as one for WeChat, with other shapes of ids. Here the
official gateway serves a world shaped like a WeCom customer group (room `R:…`, members' userids,
residents as external contacts `wm…`), and the real bot files and answers as it does on WeChat."""

from __future__ import annotations

import yaml

from tests.wechat_fixtures import (BOT, NUMBER, BotProcess, Gateway, backend_ticket, wait_until,  # noqa: F401
                                   wechat_model_dir)
from tests.wechat_fixtures import write_config as wechat_config

# The mock WeChat behind the gateway tells rooms from people by the "@chatroom" suffix, so the room
# keeps it, and the harness talks to the bot as "wxid_bot"; the members' ids are as WeCom gives them
# (a staff userid, an external contact "wm…").
ROOM, TOPIC = "R:10696052813374312@chatroom", "景湖名都业主群"
MANAGER, RESIDENT = "LiMing", "wmJ8gSDwAAdLq1_4ElXU0pBbAq2yAEhA"
WORLD = {
    "self": BOT,
    "contacts": [{"id": MANAGER, "name": "李明"}, {"id": RESIDENT, "name": "王女士"}],
    "rooms": [{"id": ROOM, "topic": TOPIC, "members": [BOT["id"], MANAGER, RESIDENT]}],
}
LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"


def test_a_wecom_shaped_group_gets_the_same_service(tmp_path, backend, wechat_model_dir):
    gateway = Gateway(tmp_path, world=WORLD)
    gateway.start()
    bot = None
    try:
        path = wechat_config(tmp_path / "config.yaml", gateway.endpoint, backend.base_url, wechat_model_dir)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["groups"][0].update(grid_managers=[MANAGER])
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        bot = BotProcess(path).start()
        bot.wait_log("connected to the puppet service")
        gateway.say(RESIDENT, LIGHT, room=ROOM)
        reply = gateway.wait_sent(lambda e: e["to"] == ROOM and e.get("mentions") == [RESIDENT],
                                  what="the @-reply in the WeCom room")
        number = NUMBER.search(reply["text"]).group(0)
        assert backend_ticket(backend, number)["service_code"] == "lighting"
        gateway.say(MANAGER, "待确认", room=None)
        answer = gateway.wait_sent(lambda e: e["to"] == MANAGER, what="the manager's private answer")
        assert "待确认" in answer["text"] or "没有" in answer["text"], answer
    finally:
        if bot is not None:
            assert bot.stop() == 0
        gateway.stop()
