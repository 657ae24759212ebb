"""A wechaty SDK Message as intake sees it: an IncomingMessage, or nothing."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timezone

from bot.channels.wechaty_compat import MessageType
from bot.messages import IncomingMessage

log = logging.getLogger("bot.channels.wechaty")

# The SDK maps the wire's numbers (7 = text) to its own enum: compare with the enum, never a number.
KINDS = {
    MessageType.MESSAGE_TYPE_TEXT: "text",
    MessageType.MESSAGE_TYPE_IMAGE: "image",
    MessageType.MESSAGE_TYPE_AUDIO: "voice",
    MessageType.MESSAGE_TYPE_ATTACHMENT: "file",
    MessageType.MESSAGE_TYPE_URL: "link",
    MessageType.MESSAGE_TYPE_MINI_PROGRAM: "mini_program",
}


def to_incoming(msg, self_id: str | None, topics: set[str]) -> IncomingMessage | None:
    """None for the bot's own messages and for rooms whose topic is not a configured group."""
    payload = msg.payload
    if payload.from_id == self_id or msg.is_self():
        return None
    room = msg.room()
    topic = room.payload.topic if room is not None else None
    if room is not None and topic not in topics:
        log.debug("message %s in unmonitored room %r ignored", msg.message_id, topic)
        return None
    talker = msg.talker()
    kind = KINDS.get(msg.type(), "other")
    return IncomingMessage(
        message_id=msg.message_id, group_id=room.room_id if room else None, group_name=topic,
        sender_id=talker.contact_id, sender_name=talker.name or talker.contact_id,
        text=msg.text() if kind == "text" else "", mentions=tuple(payload.mention_ids or ()),
        time=sent_at(payload.timestamp), in_group=room is not None, kind=kind)


async def with_media_url(puppet, msg, incoming: IncomingMessage) -> IncomingMessage:
    """An image keeps a link only when the puppet gives one (most give bytes, which we do not keep)."""
    try:
        async with asyncio.timeout(3):
            box = await puppet.message_image(msg.message_id)
        url = getattr(box, "remoteUrl", None)
    except Exception as exc:  # noqa: BLE001 - the message is stored without the link
        log.debug("no image link for %s: %r", msg.message_id, exc)
        url = None
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return replace(incoming, media_url=url)
    return incoming


def sent_at(timestamp) -> datetime:
    if not timestamp:
        return datetime.now(timezone.utc)
    seconds = timestamp / 1000 if timestamp > 2_145_888_000 else timestamp  # the wire mixes s and ms
    return datetime.fromtimestamp(seconds, timezone.utc)
