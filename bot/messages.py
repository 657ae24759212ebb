"""Channel-neutral messages: what an adapter hands to intake, and what intake hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class IncomingMessage:
    """One chat message as the bot sees it, whatever channel it came from.

    `message_id` is the channel's own id: the same event delivered twice carries the same id,
    which is how intake handles it once.
    """

    message_id: str
    group_id: str | None
    group_name: str | None
    sender_id: str
    sender_name: str
    text: str
    mentions: tuple[str, ...] = ()
    time: datetime = field(default_factory=utcnow)
    in_group: bool = True
    kind: str = "text"  # text | image | voice | file | link | mini_program | other
    media_url: str | None = None
    source: str = "wechat"  # wechat (a chat channel) | hotline | platform | web (the http channel)
    place: str | None = None  # where, as a hotline operator or a web form gives it
    phone: str | None = None  # a contact number given to the hotline or the web form, for call-back

    @property
    def from_chat(self) -> bool:
        """Whether it came from a chat (WeChat or the console), where the bot talks with people."""
        return self.source == CHAT_SOURCE


CHAT_SOURCE = "wechat"
NO_GROUP = ""  # the group of a report (hotline, platform, web) nobody placed in a group yet: an admin assigns it
REPORT_SOURCES = ("hotline", "platform", "web")  # the http channel: reports people chose to make
SOURCE_NAMES = {"wechat": "微信群", "hotline": "热线", "platform": "政务平台", "web": "网页"}


def where_from(group_name: str | None, source: str = CHAT_SOURCE) -> str:
    """How staff read where a report came from: its group, or its channel when it has no group."""
    return group_name or f"{SOURCE_NAMES.get(source, source)}（未分派群）"


@dataclass(frozen=True)
class Reply:
    """Something the bot says: in a group (mentioning `to_id`) or privately to `to_id`."""

    text: str
    group_id: str | None
    group_name: str | None
    to_id: str | None
    to_name: str | None
    in_reply_to: str | None = None
    ticket: str | None = None
