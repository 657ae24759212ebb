"""The backend's settings: a mistake in the config file or the environment stops it at start-up
with the file, the key path and the reason, before any ticket is filed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backend.config import DEFAULTS_PATH, ConfigError, api_keys_from_env, load_config

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, **changes) -> Path:
    """The default settings with some keys changed (a value of None deletes the key)."""
    data = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    data["taxonomy"] = str(ROOT / "taxonomy.yaml")
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "backend.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_default_settings_cover_every_taxonomy_category():
    config = load_config()
    taxonomy = yaml.safe_load((ROOT / "taxonomy.yaml").read_text(encoding="utf-8"))["categories"]
    assert list(config.services) == list(taxonomy)
    assert config.services["fire"].deadline_days == 1
    assert config.services["noise"].deadline_days == 7
    assert config.services["noise"].name == "噪音扰民"
    assert config.ticket_prefix == "GX"


def agencies_without_lighting() -> dict:
    agencies = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))["agencies"]
    agencies.pop("lighting")
    return agencies


@pytest.mark.parametrize("changes, words", [
    ({"agencies": agencies_without_lighting()}, "agencies: no agency for lighting"),
    ({"agencies": {"lightning": "x"}}, "agencies.lightning: not a taxonomy category"),
    ({"service_groups": {"全部": ["lighting"]}}, "service_groups: no group for road"),
    ({"deadline_days": {"gas": 0}}, "deadline_days.gas: expected a whole number of days"),
    ({"deadline_days": {"gas": True}}, "deadline_days.gas: expected a whole number of days"),
    ({"default_deadline_days": None}, "default_deadline_days: expected a whole number"),
    ({"timezone": "Asia/Nowhere"}, "timezone: unknown time zone"),
    ({"ticket_prefix": "gx-"}, "ticket_prefix: expected 1 to 6 upper-case letters"),
    ({"taxonomy": "/nonexistent/taxonomy.yaml"}, "cannot read"),
    ({"agency": {}}, "agency: unknown setting"),
])
def test_a_bad_setting_is_reported_with_its_key_path(tmp_path, changes, words):
    path = write_config(tmp_path, **changes)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert words in str(caught.value)


def test_a_category_in_two_service_groups_is_reported(tmp_path):
    groups = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))["service_groups"]
    groups["城市管理"].append("lighting")
    with pytest.raises(ConfigError, match="service_groups.城市管理: 'lighting' is already in 市政设施"):
        load_config(write_config(tmp_path, service_groups=groups))


def test_api_keys_come_comma_separated_from_the_environment():
    assert api_keys_from_env({"GRIDBOT_API_KEYS": " bot-a, bot-b ,,"}) == {"bot-a", "bot-b"}
    with pytest.raises(ConfigError, match="GRIDBOT_API_KEYS is empty or unset"):
        api_keys_from_env({})


def run_backend(tmp_path: Path, *args: str, env_keys: str | None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin"}
    if env_keys is not None:
        env["GRIDBOT_API_KEYS"] = env_keys
    return subprocess.run(
        [sys.executable, "-m", "backend", "--port", "1", "--db", str(tmp_path / "b.db"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )


def test_backend_will_not_start_without_api_keys(tmp_path):
    result = run_backend(tmp_path, env_keys=None)
    assert result.returncode == 2
    assert "GRIDBOT_API_KEYS is empty or unset" in result.stderr


def test_backend_will_not_start_with_a_bad_config_file(tmp_path):
    bad = write_config(tmp_path, deadline_days={"gas": -1})
    result = run_backend(tmp_path, "--config", str(bad), env_keys="k")
    assert result.returncode == 2
    assert f"{bad}: deadline_days.gas: expected a whole number of days" in result.stderr


def test_a_misspelled_backend_setting_names_the_nearest_one(tmp_path):
    path = write_config(tmp_path, require_key_for_read=True)
    with pytest.raises(ConfigError, match=r"require_key_for_read: unknown setting \(did you mean 'require_key_for_reads'\?\)"):
        load_config(path)
    path = write_config(tmp_path, login_max_failures=True)
    with pytest.raises(ConfigError, match="login_max_failures"):
        load_config(path)  # a yes/no is not a number of failures
