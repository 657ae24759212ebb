"""The backend's settings: the taxonomy plus a small YAML file, validated once at start-up.

A bad file stops the backend with a `ConfigError` that names the file, the key path and the
reason, so that a typo in an agency name is found before the first ticket, not after.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError

from common.settings import Strict, first_problem

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
API_KEYS_ENV = "GRIDBOT_API_KEYS"

class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the file and key path."""


@dataclass(frozen=True)
class Service:
    """One category as the backend serves it (taxonomy name + this office's choices)."""

    code: str
    name: str
    description: str
    group: str
    agency: str
    deadline_days: int


@dataclass(frozen=True)
class StaffSettings:
    """Sessions and logins of the ledger's staff; every value has a default so older files still load."""

    session_idle_minutes: float = 30
    session_max_hours: float = 12
    login_window_minutes: float = 15
    login_max_failures: int = 5             # per account name within the window
    login_max_failures_per_address: int = 50  # per client address (a street office shares one)


@dataclass(frozen=True)
class BackendConfig:
    services: dict[str, Service]
    timezone: ZoneInfo
    ticket_prefix: str
    jurisdiction_id: str | None
    require_key_for_reads: bool = False
    staff: StaffSettings = StaffSettings()


Positive = Annotated[float, Field(gt=0, le=100_000)]
PositiveWhole = Annotated[int, Field(gt=0, le=100_000)]


class _BackendFile(Strict):
    """The file's keys and the types of its simple values (common.settings, as the bot's config):
    an unknown key is an error naming the nearest known one. The values checked against the
    taxonomy (groups, agencies, deadlines) are checked below with their own messages."""

    taxonomy: Any = None
    timezone: Any = None
    ticket_prefix: Any = None
    jurisdiction_id: Any = None
    service_groups: Any = None
    agencies: Any = None
    default_deadline_days: Any = None
    deadline_days: Any = None
    require_key_for_reads: bool = False
    session_idle_minutes: Positive = StaffSettings.session_idle_minutes
    session_max_hours: Positive = StaffSettings.session_max_hours
    login_window_minutes: Positive = StaffSettings.login_window_minutes
    login_max_failures: PositiveWhole = StaffSettings.login_max_failures
    login_max_failures_per_address: PositiveWhole = StaffSettings.login_max_failures_per_address


def load_config(path: Path | str | None = None) -> BackendConfig:
    """Read and validate a backend config file (defaults.yaml when `path` is None)."""
    path = Path(path) if path else DEFAULTS_PATH
    raw = _read_yaml(path)
    where = str(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of settings at the top level")
    try:
        checked = _BackendFile.model_validate(raw)
    except ValidationError as exc:
        key, reason = first_problem(exc, _BackendFile)
        raise ConfigError(f"{where}: {key}: {reason}") from None
    taxonomy = _load_taxonomy(path.parent / _text(raw, "taxonomy", where), where)
    groups = _service_groups(raw.get("service_groups"), taxonomy, where)
    agencies = _agencies(raw.get("agencies"), taxonomy, where)
    deadlines = _deadlines(raw, taxonomy, where)
    services = {
        code: Service(code, name, scope, groups[code], agencies[code], deadlines[code])
        for code, (name, scope) in taxonomy.items()
    }
    return BackendConfig(
        services=services,
        timezone=_timezone(_text(raw, "timezone", where), where),
        ticket_prefix=_ticket_prefix(_text(raw, "ticket_prefix", where), where),
        jurisdiction_id=_optional_text(raw, "jurisdiction_id", where),
        require_key_for_reads=checked.require_key_for_reads,
        staff=StaffSettings(**{name: getattr(checked, name) for name in StaffSettings.__dataclass_fields__}),
    )


def api_keys_from_env(environ: dict[str, str] | None = None) -> frozenset[str]:
    """The api keys allowed to write, from GRIDBOT_API_KEYS (comma-separated)."""
    value = (environ if environ is not None else os.environ).get(API_KEYS_ENV, "")
    keys = frozenset(key.strip() for key in value.split(",") if key.strip())
    if not keys:
        raise ConfigError(
            f"environment variable {API_KEYS_ENV} is empty or unset: list the api keys "
            "(comma-separated) that may create tickets, e.g. GRIDBOT_API_KEYS=dev-key"
        )
    return keys


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def _load_taxonomy(path: Path, where: str) -> dict[str, tuple[str, str]]:
    raw = _read_yaml(path)
    categories = raw.get("categories") if isinstance(raw, dict) else None
    if not isinstance(categories, dict) or not categories:
        raise ConfigError(f"{where}: taxonomy: {path} has no `categories` mapping")
    taxonomy = {}
    for code, entry in categories.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{path}: categories.{code}: needs a `name`")
        taxonomy[str(code)] = (entry["name"], str(entry.get("scope", "")))
    return taxonomy


def _service_groups(value: object, taxonomy: dict, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: service_groups: expected a mapping of group name to category codes")
    group_of: dict[str, str] = {}
    for group, codes in value.items():
        if not isinstance(codes, list):
            raise ConfigError(f"{where}: service_groups.{group}: expected a list of category codes")
        for code in codes:
            if code not in taxonomy:
                raise ConfigError(f"{where}: service_groups.{group}: {code!r} is not a taxonomy category")
            if code in group_of:
                raise ConfigError(f"{where}: service_groups.{group}: {code!r} is already in {group_of[code]}")
            group_of[code] = str(group)
    missing = [code for code in taxonomy if code not in group_of]
    if missing:
        raise ConfigError(f"{where}: service_groups: no group for {', '.join(missing)}")
    return group_of


def _agencies(value: object, taxonomy: dict, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: agencies: expected a mapping of category code to agency name")
    for code, agency in value.items():
        if code not in taxonomy:
            raise ConfigError(f"{where}: agencies.{code}: not a taxonomy category")
        if not isinstance(agency, str) or not agency.strip():
            raise ConfigError(f"{where}: agencies.{code}: expected a non-empty agency name")
    missing = [code for code in taxonomy if code not in value]
    if missing:
        raise ConfigError(f"{where}: agencies: no agency for {', '.join(missing)}")
    return {code: value[code].strip() for code in taxonomy}


def _deadlines(raw: dict, taxonomy: dict, where: str) -> dict[str, int]:
    default = _positive_days(raw.get("default_deadline_days"), f"{where}: default_deadline_days")
    per_code = raw.get("deadline_days") or {}
    if not isinstance(per_code, dict):
        raise ConfigError(f"{where}: deadline_days: expected a mapping of category code to days")
    for code, days in per_code.items():
        if code not in taxonomy:
            raise ConfigError(f"{where}: deadline_days.{code}: not a taxonomy category")
        _positive_days(days, f"{where}: deadline_days.{code}")
    return {code: per_code.get(code, default) for code in taxonomy}


def _positive_days(value: object, where: str) -> int:
    # bool is an int in Python; `yes` in YAML must not become one day.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise ConfigError(f"{where}: expected a whole number of days from 1 to 3650, got {value!r}")
    return value


def _text(raw: dict, key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key}: expected a non-empty string")
    return value.strip()


def _optional_text(raw: dict, key: str, where: str) -> str | None:
    return None if raw.get(key) is None else _text(raw, key, where)


def _timezone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}: timezone: unknown time zone {name!r}") from exc


def _ticket_prefix(prefix: str, where: str) -> str:
    # Tickets are read aloud and typed into chat commands: letters only, upper case.
    if not (prefix.isascii() and prefix.isalpha() and prefix.isupper() and len(prefix) <= 6):
        raise ConfigError(f"{where}: ticket_prefix: expected 1 to 6 upper-case letters, got {prefix!r}")
    return prefix
