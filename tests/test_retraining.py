"""Grid managers' decisions become training data; an admin retrains from the chat and the running
bot switches to the new model only if it is not worse on the fixed evaluation split."""

from __future__ import annotations

import shutil

import pytest

from bot.messages import IncomingMessage
from bot.store import Store
from bot import tickets
from classifier import registry
from classifier.corpus import DataError
from classifier.feedback import read_feedback
from tests.bot_harness import ADMIN, GROUP, MANAGER, running_bot, settings_for

pytestmark = pytest.mark.usefixtures("bot_env")


async def test_the_latest_decision_about_a_message_is_the_example(tmp_path):
    store = await Store.open(tmp_path / "bot.db")
    await store.insert_message(IncomingMessage("k1", "g", GROUP, "w", "王女士", "楼道灯坏了"))
    await tickets.record_decision(store, "k1", "楼道灯坏了", "power", "recategorize", MANAGER)
    await tickets.record_decision(store, "k1", "楼道灯坏了", "lighting", "recategorize", MANAGER)
    await tickets.record_decision(store, "k2", "今天真热", "none", "reject", MANAGER)
    await store.close()
    examples = read_feedback(tmp_path / "bot.db")
    assert [(e.text, e.label) for e in examples] == [("楼道灯坏了", "lighting"), ("今天真热", "none")]


def test_feedback_from_a_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such store"):
        read_feedback(tmp_path / "nothing.db")


async def test_admin_retrains_from_the_chat_and_the_bot_reloads(tmp_path, backend, shipped_models):
    models = tmp_path / "models"
    shutil.copytree(shipped_models[0], models)
    before = registry.current_version(models)
    settings = settings_for(tmp_path, backend.base_url, models, classifier__auto_ticket=1.0)
    async with running_bot(settings) as chat:
        await chat.say("王女士", "3栋楼道灯坏了一个星期了，晚上黑漆漆的")
        await chat.say("小李", "改类 1 路灯照明", sender_id=MANAGER)
        said = await chat.say("管理员", "重新训练", group=None, sender_id=ADMIN)
        assert "已开始重新训练" in said[0].text
        busy = await chat.say("管理员", "重新训练", group=None, sender_id=ADMIN)
        assert "正在训练中" in busy[0].text
        await chat.bot.retrainer.task
        said = await chat.settle()
        assert "训练完成" in said[0].text and "投诉识别F1" in said[0].text and said[0].to_id == ADMIN
        after = registry.current_version(models)
        new = [r for r in registry.versions(models) if r["version"] not in (before,)]
        card = new[-1]["card"]
        assert any("feedback (1)" in v for v in card["sources"].values())
        if "已上线" in said[0].text:
            assert after == card["version"] and chat.bot.live_model.version == after
        else:
            assert after == before and chat.bot.live_model.version == before
