"""config.yaml: the shipped file loads; every bad value names its key path."""

from pathlib import Path

import pytest

from bot import config
from bot.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def base() -> dict:
    return {"channel": "console",
            "groups": [{"name": "景湖名都业主群", "community": "彭家场社区", "grid_managers": ["wxid_li"]}],
            "admins": ["wxid_admin"],
            "tracker": {"base_url": "http://127.0.0.1:8311", "api_key_env": "GRIDBOT_API_KEY"},
            "store": {"path": "var/gridbot.db"},
            "classifier": {"model_dir": "models", "ignore_below": 0.45, "auto_ticket": 0.8}}


def test_the_shipped_config_loads():
    settings = config.load(ROOT / "config.yaml")
    assert settings.channel == "console" and settings.group("景湖名都业主群").grid_managers == ("wxid_li",)
    assert settings.wechaty.endpoint == "127.0.0.1:8788"
    assert settings.classifier.model_dir == ROOT / "models"


@pytest.mark.parametrize("change, key", [
    (lambda d: d.update(channel="telegram"), "channel"),
    (lambda d: d["groups"].append(dict(d["groups"][0])), "groups[1].name"),
    (lambda d: d["groups"][0].update(grid_managers="wxid_li"), "groups[0].grid_managers"),
    (lambda d: d["tracker"].update(base_url="127.0.0.1:8311"), "tracker.base_url"),
    (lambda d: d["tracker"].update(api_key_env="has space"), "tracker.api_key_env"),
    (lambda d: d["classifier"].update(ignore_below=0.9), "classifier.ignore_below"),
    (lambda d: d["classifier"].update(auto_ticket="high"), "classifier.auto_ticket"),
    (lambda d: d["classifier"].update(auto_ticket=1.5), "classifier.auto_ticket"),
    (lambda d: d.pop("store"), "store"),
    (lambda d: d.update(channel="wechaty"), "wechaty"),
    (lambda d: d.update(channel="wechaty", wechaty={"token_env": "T"}), "wechaty.endpoint"),
    (lambda d: d.update(wechaty={"endpoint": "no-port"}), "wechaty.endpoint"),
    (lambda d: d.update(limits={"reports_per_hour": 0}), "limits.reports_per_hour"),
])
def test_a_bad_value_is_reported_with_its_key_path(change, key):
    data = base()
    change(data)
    with pytest.raises(ConfigError) as err:
        config.parse(data, "config.yaml")
    assert err.value.key == key
    assert str(err.value).startswith(f"config.yaml: {key}: ")


def test_a_missing_secret_names_the_variable(monkeypatch):
    monkeypatch.delenv("GRIDBOT_API_KEY", raising=False)
    settings = config.parse(base())
    with pytest.raises(ConfigError, match="GRIDBOT_API_KEY is not set"):
        settings.tracker.api_key()


def test_a_file_that_is_not_a_mapping_is_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        config.load(path)
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize("change, key, hint", [
    (lambda d: d.update(chanel="wechaty"), "chanel", "did you mean 'channel'?"),
    (lambda d: d["groups"][0].update(grid_manager=["wxid_li"]), "groups[0].grid_manager", "did you mean 'grid_managers'?"),
    (lambda d: d["classifier"].update(auto_tickets=0.9), "classifier.auto_tickets", "did you mean 'auto_ticket'?"),
    (lambda d: d.update(limit={"reports_per_hour": 3}), "limit", "did you mean 'limits'?"),
])
def test_a_misspelled_key_is_an_error_naming_the_nearest_valid_one(change, key, hint):
    data = base()
    change(data)
    with pytest.raises(ConfigError) as err:
        config.parse(data, "config.yaml")
    assert err.value.key == key and "unknown setting" in str(err.value) and hint in str(err.value)


def test_a_base_url_without_a_scheme_says_so():
    data = base()
    data["tracker"]["base_url"] = "127.0.0.1:8311"
    with pytest.raises(ConfigError, match="has no scheme: write http://127.0.0.1:8311"):
        config.parse(data, "config.yaml")


def test_check_config_refuses_a_misspelled_key(tmp_path):
    import subprocess
    import sys

    import yaml

    data = base()
    data["chanel"] = "wechaty"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "chanel: unknown setting (did you mean 'channel'?)" in done.stderr


def test_channels_lists_the_running_channels_and_channel_is_its_one_item_shorthand(monkeypatch):
    data = base()
    assert config.parse(data).channels == ("console",)
    data.pop("channel")
    data.update(channels=["http", "wechaty"], wechaty={"endpoint": "127.0.0.1:8788"})
    settings = config.parse(data)
    assert settings.channels == ("wechaty", "http") and settings.channel == "wechaty"   # the chat channel first
    assert settings.http.port == 8320 and settings.http.token_env == "GRIDBOT_INTAKE_TOKEN"
    monkeypatch.delenv("GRIDBOT_INTAKE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="http.token_env: environment variable GRIDBOT_INTAKE_TOKEN is not set"):
        settings.http.token()
    monkeypatch.setenv("GRIDBOT_INTAKE_TOKEN", "short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        settings.http.token()


@pytest.mark.parametrize("change, key, words", [
    (lambda d: d.update(channels=["console"]), "channel", "both set"),
    (lambda d: (d.pop("channel"), d.update(channels=["console", "wechaty"], wechaty={"endpoint": "h:1"})),
     "channels", "one chat channel"),
    (lambda d: (d.pop("channel"), d.update(channels=["http", "http"])), "channels", "twice"),
    (lambda d: (d.pop("channel"), d.update(channels=["fax"])), "channels[0]", ""),
    (lambda d: (d.pop("channel"), d.update(channels=[])), "channels", ""),
    (lambda d: d.update(alarm={"link_down_minutes": 5}), "alarm", "wecom_webhook_env or email"),
    (lambda d: d.update(alarm={"email": {"host": "smtp.example"}}), "alarm.email.to", ""),
    (lambda d: d.update(http={"port": 70000}), "http.port", ""),
    (lambda d: d["groups"][0].update(mode="silent"), "groups[0].mode", ""),
    (lambda d: d.update(timezone="Mars/Olympus"), "timezone", "not a time zone"),
    (lambda d: d.update(digest={"time": "25:00"}), "digest.time", ""),
])
def test_channels_alarm_modes_and_digest_are_checked(change, key, words):
    data = base()
    change(data)
    with pytest.raises(ConfigError) as err:
        config.parse(data, "config.yaml")
    assert err.value.key == key and words in str(err.value), str(err.value)
