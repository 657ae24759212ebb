"""config.yaml -> typed, validated settings. A bad value is reported with its key path and reason."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, StringConstraints, ValidationError, field_validator

from classifier.corpus import AUTO_TICKET, IGNORE_BELOW
from common.settings import Strict, first_problem


class ConfigError(ValueError):
    """A config value that cannot be used; `key` is its path, such as `groups[1].name`."""

    def __init__(self, key: str, reason: str, source: str | None = None):
        self.key, self.reason = key, reason
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {reason}")


@dataclass(frozen=True)
class Group:
    name: str
    community: str
    grid_managers: tuple[str, ...]
    places: tuple[str, ...] = ()      # the group's gazetteer: "幸福桥" or "幸福桥|老桥" (name|aliases)
    mode: str = "observe"             # observe (silent trial) | confirm (managers decide all) | live


MODES = ("observe", "confirm", "live")


@dataclass(frozen=True)
class DigestSettings:
    """The grid managers' morning: the digest and the 督办 reminders, sent at `time` local time."""

    time: str = "08:00"               # HH:MM in `timezone`
    ready_precision: float = 0.9      # a group in trial is ready for live at this measured precision…
    ready_min_reviewed: int = 50      # …over at least this many reviewed would-be tickets
    likely_complaint: float = 0.25    # an ignored message this likely to be a complaint is shown for review
    max_items: int = 30               # review items listed per group and day

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


@dataclass(frozen=True)
class TrackerSettings:
    base_url: str
    api_key_env: str
    jurisdiction_id: str | None = None
    timeout: float = 10.0
    poll_interval: float = 60.0
    max_attempts: int = 4            # tries per call inside the client; the outbox retries beyond that
    key_on_reads: bool = False       # send api_key on GETs too (servers that close Open311 reads)
    parallel: int = 8                # outbox calls in flight at once

    def api_key(self) -> str:
        value = os.environ.get(self.api_key_env, "").strip()
        if not value:
            raise ConfigError("tracker.api_key_env", f"environment variable {self.api_key_env} is not set")
        return value


@dataclass(frozen=True)
class ClassifierSettings:
    model_dir: Path
    ignore_below: float = IGNORE_BELOW
    auto_ticket: float = AUTO_TICKET
    reload_interval: float = 10.0


@dataclass(frozen=True)
class Limits:
    reports_per_hour: int = 10       # complaints one resident may file per hour
    description_chars: int = 500     # longer messages are stored whole, truncated for the ticket
    merge_window_hours: float = 72.0
    merge_similarity: float = 0.4
    split_window_seconds: float = 120.0   # one person's sends this close together are one message
    ask_window_minutes: float = 30.0      # how long an asked-for place is waited for
    followup_window_hours: float = 24.0 * 30  # a resident's status question or addition finds their ticket
    message_chars: int = 5000             # longer texts are classified on their first part only


@dataclass(frozen=True)
class EmergencyLines:
    """Numbers told to residents in an emergency besides 119 / 110 / 120."""

    gas_company: str | None = None        # the local gas company's emergency line
    elevator: str | None = None           # the elevator emergency line (96333 in many cities)
    water_company: str | None = None


@dataclass(frozen=True)
class WechatySettings:
    endpoint: str | None
    token_env: str = "WECHATY_PUPPET_SERVICE_TOKEN"

    def token(self) -> str:
        value = os.environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigError("wechaty.token_env", f"environment variable {self.token_env} is not set")
        return value


@dataclass(frozen=True)
class HttpSettings:
    """The http channel: the intake API (hotline, platform) and the residents' web form."""

    host: str = "127.0.0.1"
    port: int = 8320
    token_env: str = "GRIDBOT_INTAKE_TOKEN"   # the API's bearer token is read from this variable
    public_url: str | None = None             # how residents reach the form (for status links)
    form: bool = True                         # serve the residents' web form at /report
    form_per_hour: int = 5                    # reports one address may send through the form per hour

    def token(self) -> str:
        value = os.environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigError("http.token_env", f"environment variable {self.token_env} is not set")
        if len(value) < 16:
            raise ConfigError("http.token_env", f"the token in {self.token_env} is shorter than 16 characters")
        return value


@dataclass(frozen=True)
class EmailAlarm:
    host: str
    port: int = 587
    starttls: bool = True
    sender: str = "gridbot@localhost"
    to: tuple[str, ...] = ()
    username_env: str | None = None
    password_env: str | None = None


@dataclass(frozen=True)
class AlarmSettings:
    """Telling admins, through something that does not depend on WeChat, that intake is in trouble."""

    link_down_minutes: float = 10.0           # the WeChat link down this long raises the alarm
    wecom_webhook_env: str | None = None      # the WeCom group robot's webhook URL is read from this variable
    email: EmailAlarm | None = None
    check_seconds: float = 30.0


CHAT_CHANNELS = ("console", "wechaty")


@dataclass(frozen=True)
class Settings:
    channel: str                              # the chat channel (console or wechaty), or http alone
    groups: tuple[Group, ...]
    admins: tuple[str, ...]
    tracker: TrackerSettings
    store_path: Path
    classifier: ClassifierSettings
    limits: Limits = field(default_factory=Limits)
    wechaty: WechatySettings | None = None
    bot_names: tuple[str, ...] = ("网格助手",)
    console_people: dict = field(default_factory=dict)
    emergency: EmergencyLines = field(default_factory=EmergencyLines)
    timezone: str = "Asia/Shanghai"   # the district's clock: days of the digest, 督办, deadlines
    digest: DigestSettings = field(default_factory=DigestSettings)
    channels: tuple[str, ...] = ()    # every channel that runs (the chat channel first)
    http: HttpSettings | None = None
    alarm: AlarmSettings | None = None

    @property
    def zone(self):
        return ZoneInfo(self.timezone)

    def managers(self) -> list[str]:
        """Every grid manager, in config order, once."""
        return list(dict.fromkeys(m for g in self.groups for m in g.grid_managers))

    def groups_of(self, manager: str) -> list[Group]:
        return [g for g in self.groups if manager in g.grid_managers]

    def responsible(self, group_name: str | None) -> list[str]:
        """Who answers for a group: its grid managers, or the admins when it has none (or no group)."""
        group = self.group(group_name)
        return list(group.grid_managers) if group and group.grid_managers else list(self.admins)

    @property
    def staff_names(self) -> dict[str, str]:
        """Display names of staff, from config's console people (ids only are known otherwise)."""
        return {wxid: name for name, wxid in self.console_people.items()}

    def group(self, name: str | None) -> Group | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Group]:
        return {g.name: g for g in self.groups}


# -- the file's shape (common.settings: one validation approach for the bot and the backend) ----

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
EnvName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _between(low: float, high: float, whole: bool = False):
    return Annotated[int if whole else float, Field(ge=low, le=high)]


class _GroupFile(Strict):
    name: Text
    community: Text | None = None
    grid_managers: list[Text] = []
    places: list[Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"[^|\s]")]] = []
    mode: Literal["observe", "confirm", "live"] = "observe"   # a new group starts as a silent trial


class _TrackerFile(Strict):
    base_url: str
    api_key_env: EnvName = "GRIDBOT_API_KEY"
    jurisdiction_id: Text | None = None
    timeout: _between(0.1, 300) = 10.0
    poll_interval: _between(0.05, 86400) = 60.0
    max_attempts: _between(1, 20, whole=True) = 4
    key_on_reads: bool = False
    parallel: _between(1, 64, whole=True) = 8

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
            raise ValueError(f"{value!r} has no scheme: write http://{value} (or https://…)")
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"{value!r} must be an http:// or https:// address")
        return value.rstrip("/")


class _StoreFile(Strict):
    path: Text


class _ClassifierFile(Strict):
    model_dir: Text = "models"
    ignore_below: _between(0.0, 1.0) = IGNORE_BELOW
    auto_ticket: _between(0.0, 1.0) = AUTO_TICKET
    reload_interval: _between(0.0, 86400) = 10.0


class _LimitsFile(Strict):
    reports_per_hour: _between(1, 10_000, whole=True) = 10
    description_chars: _between(50, 10_000, whole=True) = 500
    merge_window_hours: _between(0, 24 * 365) = 72.0
    merge_similarity: _between(0.0, 1.0) = 0.4
    split_window_seconds: _between(0, 3600) = 120.0
    ask_window_minutes: _between(0, 24 * 60) = 30.0
    followup_window_hours: _between(0, 24 * 365) = 720.0
    message_chars: _between(100, 1_000_000, whole=True) = 5000


class _WechatyFile(Strict):
    endpoint: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^\s:/]+:\d{1,5}$")] | None = None
    token_env: EnvName = "WECHATY_PUPPET_SERVICE_TOKEN"


class _EmergencyFile(Strict):
    gas_company: Text | None = None
    elevator: Text | None = None
    water_company: Text | None = None


class _DigestFile(Strict):
    time: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")] = "08:00"
    ready_precision: _between(0.0, 1.0) = 0.9
    ready_min_reviewed: _between(1, 100_000, whole=True) = 50
    likely_complaint: _between(0.0, 1.0) = 0.25
    max_items: _between(1, 500, whole=True) = 30


class _HttpFile(Strict):
    host: Text = "127.0.0.1"
    port: _between(1, 65535, whole=True) = 8320
    token_env: EnvName = "GRIDBOT_INTAKE_TOKEN"
    public_url: Text | None = None
    form: bool = True
    form_per_hour: _between(1, 10_000, whole=True) = 5


class _EmailFile(Strict):
    host: Text
    port: _between(1, 65535, whole=True) = 587
    starttls: bool = True
    sender: Text = "gridbot@localhost"
    to: Annotated[list[Text], Field(min_length=1)]
    username_env: EnvName | None = None
    password_env: EnvName | None = None


class _AlarmFile(Strict):
    link_down_minutes: _between(0, 24 * 60) = 10.0
    wecom_webhook_env: EnvName | None = None
    email: _EmailFile | None = None
    check_seconds: _between(0.05, 3600) = 30.0


class _ConsoleFile(Strict):
    people: dict[Text, Text] = {}


class _ConfigFile(Strict):
    channel: Literal["console", "wechaty", "http"] | None = None
    channels: Annotated[list[Literal["console", "wechaty", "http"]], Field(min_length=1)] | None = None
    http: _HttpFile | None = None
    alarm: _AlarmFile | None = None
    groups: Annotated[list[_GroupFile], Field(min_length=1)]
    admins: list[Text] = []
    tracker: _TrackerFile
    store: _StoreFile
    classifier: _ClassifierFile
    limits: _LimitsFile = _LimitsFile()
    wechaty: _WechatyFile | None = None
    bot_names: list[Text] = []
    console: _ConsoleFile | None = None
    emergency: _EmergencyFile | None = None
    timezone: Text = "Asia/Shanghai"
    digest: _DigestFile = _DigestFile()


def parse(data: Any, source: str | None = None, base: Path | None = None) -> Settings:
    """Validate a config mapping; the first problem is a ConfigError naming its key path."""
    base = base or Path.cwd()
    if not isinstance(data, dict):
        raise ConfigError("(top level)", "must be a mapping of settings", source)
    if not isinstance(data.get("groups"), list) or not data["groups"]:
        raise ConfigError("groups", "must be a non-empty list of groups to monitor", source)
    try:
        f = _ConfigFile.model_validate(data)
    except ValidationError as exc:
        key, reason = first_problem(exc, _ConfigFile)
        raise ConfigError(key, reason, source) from None
    seen: set[str] = set()
    for i, g in enumerate(f.groups):
        if g.name in seen:
            raise ConfigError(f"groups[{i}].name", f"group {g.name!r} is listed twice", source)
        seen.add(g.name)
    try:
        ZoneInfo(f.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("timezone", f"{f.timezone!r} is not a time zone name (e.g. Asia/Shanghai)", source) from None
    if f.classifier.ignore_below > f.classifier.auto_ticket:
        raise ConfigError("classifier.ignore_below", "must not be above classifier.auto_ticket", source)
    channels = _channels(f, source)
    if "wechaty" in channels and f.wechaty is None:
        raise ConfigError("wechaty", "is missing (channel is wechaty)", source)
    if "wechaty" in channels and f.wechaty.endpoint is None:
        raise ConfigError("wechaty.endpoint", "is missing (channel is wechaty): host:port of the puppet service",
                          source)
    if f.alarm is not None and f.alarm.wecom_webhook_env is None and f.alarm.email is None:
        raise ConfigError("alarm", "names no way to tell admins: set wecom_webhook_env or email", source)
    t, c, lim = f.tracker, f.classifier, f.limits
    h, a = f.http or _HttpFile(), f.alarm
    return Settings(
        channel=channels[0],
        channels=channels,
        http=HttpSettings(h.host, h.port, h.token_env, h.public_url, h.form, h.form_per_hour) if "http" in channels
        else None,
        alarm=None if a is None else AlarmSettings(
            a.link_down_minutes, a.wecom_webhook_env,
            None if a.email is None else EmailAlarm(a.email.host, a.email.port, a.email.starttls, a.email.sender,
                                                    tuple(a.email.to), a.email.username_env, a.email.password_env),
            a.check_seconds),
        groups=tuple(Group(g.name, g.community or g.name, tuple(g.grid_managers), tuple(g.places), g.mode)
                     for g in f.groups),
        admins=tuple(f.admins),
        tracker=TrackerSettings(t.base_url, t.api_key_env, t.jurisdiction_id, t.timeout, t.poll_interval,
                                t.max_attempts, t.key_on_reads, t.parallel),
        store_path=base / f.store.path,
        classifier=ClassifierSettings(base / c.model_dir, c.ignore_below, c.auto_ticket, c.reload_interval),
        limits=Limits(**lim.model_dump()),
        wechaty=None if f.wechaty is None else WechatySettings(f.wechaty.endpoint, f.wechaty.token_env),
        bot_names=tuple(f.bot_names) or ("网格助手",),
        console_people=dict(f.console.people) if f.console else {},
        emergency=EmergencyLines(**f.emergency.model_dump()) if f.emergency else EmergencyLines(),
        timezone=f.timezone,
        digest=DigestSettings(**f.digest.model_dump()),
    )


def _channels(f: _ConfigFile, source: str | None) -> tuple[str, ...]:
    """`channels: [wechaty, http]`, or `channel: wechaty` as its one-item shorthand (console when neither)."""
    if f.channel is not None and f.channels is not None:
        raise ConfigError("channel", "and `channels` are both set: keep `channels` (a list) only", source)
    listed = f.channels if f.channels is not None else [f.channel or "console"]
    if len(set(listed)) != len(listed):
        raise ConfigError("channels", f"lists a channel twice: {listed}", source)
    chats = [c for c in listed if c in CHAT_CHANNELS]
    if len(chats) > 1:
        raise ConfigError("channels", "can hold one chat channel (console or wechaty), not both", source)
    return tuple(chats + [c for c in listed if c not in CHAT_CHANNELS])


def load(path: Path | str) -> Settings:
    """Read and validate a config file; every problem is a ConfigError naming the key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("(file)", "not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("(file)", f"cannot read ({exc})", str(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError("(file)", f"not valid YAML ({exc})", str(path)) from exc
    return parse(data, str(path), path.resolve().parent)
