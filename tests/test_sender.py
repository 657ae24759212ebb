"""Replies leave in order per chat; a chat that refuses them holds up only itself, and only for a day."""

from __future__ import annotations

from bot.channels import ChannelError
from bot.messages import Reply
from bot.sender import Sender
from bot.store import Store


class RoomsChannel:
    """Delivers to every room but the ones in `gone` (the bot was removed from them)."""

    def __init__(self, gone: set[str]):
        self.gone, self.said = gone, []

    async def send(self, reply: Reply) -> None:
        if reply.group_id in self.gone:
            raise ChannelError(f"not a member of {reply.group_id}")
        self.said.append((reply.group_id, reply.text))


def reply(group: str, text: str) -> Reply:
    return Reply(text, group, group, "wxid_w", "王女士")


async def test_a_refusing_room_holds_up_only_itself(tmp_path):
    store = await Store.open(tmp_path / "bot.db")
    await store.queue_replies([reply("a@chatroom", "一"), reply("gone@chatroom", "二"), reply("a@chatroom", "三"),
                               reply("gone@chatroom", "四")])
    channel = RoomsChannel({"gone@chatroom"})
    sender = Sender(store, channel)
    assert await sender.send_pending() == 2
    assert channel.said == [("a@chatroom", "一"), ("a@chatroom", "三")]
    assert len(await store.unsent_replies()) == 2
    channel.gone.clear()
    assert await sender.send_pending() == 2
    assert channel.said[2:] == [("gone@chatroom", "二"), ("gone@chatroom", "四")]
    await store.close()


async def test_a_reply_refused_for_a_day_is_given_up(tmp_path):
    store = await Store.open(tmp_path / "bot.db")
    await store.queue_replies([reply("gone@chatroom", "一")])
    async with store.transaction() as db:
        await db.execute("UPDATE replies SET created_at = '2026-01-01T00:00:00+00:00'")
    sender = Sender(store, RoomsChannel({"gone@chatroom"}))
    assert await sender.send_pending() == 0
    assert await store.unsent_replies() == []
    row = await store.one("SELECT failed_at, last_error FROM replies")
    assert row["failed_at"] and "not a member" in row["last_error"]
    await store.close()


async def test_a_store_from_the_first_schema_is_migrated_with_its_queue(tmp_path):
    import sqlite3

    from bot.store import MIGRATIONS, SCHEMA_VERSION

    con = sqlite3.connect(tmp_path / "bot.db")
    con.executescript(MIGRATIONS[1])
    con.execute("INSERT INTO replies (text, group_id, created_at) VALUES ('旧的回复', 'a@chatroom', '2026-11-24')")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    store = await Store.open(tmp_path / "bot.db")
    assert (await store.one("PRAGMA user_version"))[0] == SCHEMA_VERSION
    assert [r["text"] for r in await store.unsent_replies()] == ["旧的回复"]
    await store.close()
