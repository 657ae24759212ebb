"""config.yaml -> typed, validated settings. A bad value is reported with its key path and reason."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from classifier.corpus import AUTO_TICKET, IGNORE_BELOW


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
class Settings:
    channel: str
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

    def group(self, name: str | None) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


class _Reader:
    """Typed access to a YAML mapping that knows each value's key path."""

    def __init__(self, data: Any, path: str, source: str | None):
        self.data, self.path, self.source = data, path, source
        if not isinstance(data, dict):
            self.fail(self.path or "(top level)", "must be a mapping")

    def fail(self, key: str, reason: str):
        raise ConfigError(key, reason, self.source)

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def section(self, name: str, required: bool = True) -> "_Reader | None":
        if name not in self.data or self.data[name] is None:
            if required:
                self.fail(self.key(name), "is missing")
            return None
        return _Reader(self.data[name], self.key(name), self.source)

    def text(self, name: str, default: Any = ..., pattern: str | None = None) -> Any:
        value = self.data.get(name, default)
        if value is ...:
            self.fail(self.key(name), "is missing")
        if value is None and default is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(self.key(name), f"must be a non-empty string, not {value!r}")
        if pattern and not re.fullmatch(pattern, value.strip()):
            self.fail(self.key(name), f"{value!r} is not valid here")
        return value.strip()

    def number(self, name: str, default: float, low: float, high: float, integer: bool = False) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            self.fail(self.key(name), f"must be a {'whole ' if integer else ''}number, not {value!r}")
        if not low <= value <= high:
            self.fail(self.key(name), f"must be between {low} and {high}, not {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self.fail(self.key(name), f"must be true or false, not {value!r}")
        return value

    def ids(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(self.key(name), "must be a list of WeChat ids (strings)")
        return tuple(v.strip() for v in value)


def parse(data: Any, source: str | None = None, base: Path | None = None) -> Settings:
    base = base or Path.cwd()
    top = _Reader(data, "", source)
    channel = top.text("channel", "console")
    if channel not in ("console", "wechaty"):
        top.fail("channel", f"must be console or wechaty, not {channel!r}")
    raw_groups = top.data.get("groups")
    if not isinstance(raw_groups, list) or not raw_groups:
        top.fail("groups", "must be a non-empty list of groups to monitor")
    groups, seen = [], set()
    for i, raw in enumerate(raw_groups):
        g = _Reader(raw, f"groups[{i}]", source)
        name = g.text("name")
        if name in seen:
            g.fail(g.key("name"), f"group {name!r} is listed twice")
        seen.add(name)
        places = g.data.get("places") or []
        if not isinstance(places, list) or not all(isinstance(p, str) and p.strip("| ") for p in places):
            g.fail(g.key("places"), "must be a list of place names (\"幸福桥\" or \"幸福桥|老桥\")")
        groups.append(Group(name, g.text("community", name), g.ids("grid_managers"),
                            tuple(p.strip() for p in places)))
    t = top.section("tracker")
    tracker = TrackerSettings(
        base_url=t.text("base_url", pattern=r"https?://[^\s/]+(/\S*)?").rstrip("/"),
        api_key_env=t.text("api_key_env", "GRIDBOT_API_KEY", pattern=r"[A-Za-z_][A-Za-z0-9_]*"),
        jurisdiction_id=t.text("jurisdiction_id", None),
        timeout=t.number("timeout", 10.0, 0.1, 300),
        poll_interval=t.number("poll_interval", 60.0, 0.05, 86400),
        max_attempts=int(t.number("max_attempts", 4, 1, 20, integer=True)),
        key_on_reads=t.flag("key_on_reads", False),
        parallel=int(t.number("parallel", 8, 1, 64, integer=True)),
    )
    s = top.section("store")
    c = top.section("classifier")
    classifier = ClassifierSettings(
        model_dir=base / c.text("model_dir", "models"),
        ignore_below=c.number("ignore_below", ClassifierSettings.ignore_below, 0.0, 1.0),
        auto_ticket=c.number("auto_ticket", ClassifierSettings.auto_ticket, 0.0, 1.0),
        reload_interval=c.number("reload_interval", 10.0, 0.0, 86400),
    )
    if classifier.ignore_below > classifier.auto_ticket:
        c.fail(c.key("ignore_below"), "must not be above classifier.auto_ticket")
    lim = top.section("limits", required=False)
    limits = Limits() if lim is None else Limits(
        reports_per_hour=int(lim.number("reports_per_hour", 10, 1, 10_000, integer=True)),
        description_chars=int(lim.number("description_chars", 500, 50, 10_000, integer=True)),
        merge_window_hours=lim.number("merge_window_hours", 72.0, 0, 24 * 365),
        merge_similarity=lim.number("merge_similarity", 0.4, 0.0, 1.0),
        split_window_seconds=lim.number("split_window_seconds", 120.0, 0, 3600),
        ask_window_minutes=lim.number("ask_window_minutes", 30.0, 0, 24 * 60),
        followup_window_hours=lim.number("followup_window_hours", 720.0, 0, 24 * 365),
        message_chars=int(lim.number("message_chars", 5000, 100, 1_000_000, integer=True)),
    )
    em = top.section("emergency", required=False)
    lines = EmergencyLines() if em is None else EmergencyLines(
        gas_company=em.text("gas_company", None), elevator=em.text("elevator", None),
        water_company=em.text("water_company", None))
    w = top.section("wechaty", required=channel == "wechaty")
    wechaty = None if w is None else WechatySettings(
        endpoint=w.text("endpoint", None if channel != "wechaty" else ..., pattern=r"[^\s:/]+:\d{1,5}"),
        token_env=w.text("token_env", "WECHATY_PUPPET_SERVICE_TOKEN", pattern=r"[A-Za-z_][A-Za-z0-9_]*"),
    )
    bot_names = top.ids("bot_names") or ("网格助手",)
    con = top.section("console", required=False)
    people = {} if con is None else (con.data.get("people") or {})
    if not isinstance(people, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in people.items()):
        top.fail("console.people", "must map display names to WeChat ids")
    return Settings(channel, tuple(groups), top.ids("admins"), tracker, base / s.text("path"),
                    classifier, limits, wechaty, bot_names, people, lines)


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
