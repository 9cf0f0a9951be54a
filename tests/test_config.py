"""Settings: parsing at the edge, precedence, and never echoing a secret."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from chatwoot_health.config import ConfigError, resolve
from chatwoot_health.timeutil import format_duration, parse_duration, parse_instant


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("24h", 86400), ("30d", 2592000), ("1.5h", 5400), ("90s", 90), ("2w", 1209600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "label"), [(86400, "24h"), (7 * 86400, "7d"), (30 * 86400, "30d"), (300, "5m")]
)
def test_duration_labels(seconds: int, label: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == label


def test_instants_are_utc() -> None:
    assert parse_instant("2026-03-08T03:30:00-04:00").isoformat() == "2026-03-08T07:30:00+00:00"
    assert parse_instant("2026-11-27T09:00:00").isoformat() == "2026-11-27T09:00:00+00:00"
    assert parse_instant("20261127T004500Z").isoformat() == "2026-11-27T00:45:00+00:00"


def test_business_calendar_settings() -> None:
    values = resolve(
        {},
        {
            "CHATWOOT_HEALTH_BUSINESS_HOURS": "08:30-24:00",
            "CHATWOOT_HEALTH_BUSINESS_DAYS": "mon-wed,fri",
            "CHATWOOT_HEALTH_HOLIDAYS": "2026-12-25, 2027-01-01",
            "CHATWOOT_HEALTH_TIMEZONE": "Europe/London",
        },
    )
    assert values["business_hours"] == (510, 1440)
    assert values["business_days"] == frozenset({0, 1, 2, 4})
    assert values["holidays"] == frozenset({date(2026, 12, 25), date(2027, 1, 1)})
    assert values["timezone"].key == "Europe/London"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHATWOOT_HEALTH_BUSINESS_HOURS": "17:00-09:00"}, "closing time must be after opening"),
        ({"CHATWOOT_HEALTH_BUSINESS_DAYS": "funday"}, "'funday' is not a weekday"),
        ({"CHATWOOT_HEALTH_TIMEZONE": "Mars/Olympus"}, "is not an IANA time zone name"),
        ({"CHATWOOT_HEALTH_HOLIDAYS": "25/12/2026"}, "'25/12/2026' is not a date"),
        ({"CHATWOOT_HEALTH_INTERVAL": "often"}, "CHATWOOT_HEALTH_INTERVAL: 'often' is not"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        resolve({}, env)
    assert str(caught.value).startswith(next(iter(env)))
    assert "\n" not in str(caught.value)


def test_a_malformed_secret_is_never_echoed() -> None:
    secret = "hooks.example.invalid/services/T000/B000/XYZ-secret-part"
    with pytest.raises(ConfigError) as caught:
        resolve({}, {"ALERT_WEBHOOK_URL": secret})
    assert "secret-part" not in str(caught.value)
    assert str(caught.value) == (
        "ALERT_WEBHOOK_URL: (value hidden) is not an http(s) URL, e.g. https://chat.example.com"
    )


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('chatwoot_health_interval = "10m"\nCHATWOOT_HEALTH_TIMEOUT = 7\n')
    values = resolve({}, {}, config)
    assert values["interval"] == timedelta(minutes=10) and values["timeout"] == 7.0
    values = resolve({}, {"CHATWOOT_HEALTH_INTERVAL": "15m"}, config)
    assert values["interval"] == timedelta(minutes=15)
    values = resolve(
        {"interval": timedelta(minutes=1)}, {"CHATWOOT_HEALTH_INTERVAL": "15m"}, config
    )
    assert values["interval"] == timedelta(minutes=1)
    assert resolve({}, {})["interval"] == timedelta(minutes=5)


def test_bad_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve({}, {}, tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        resolve({}, {}, broken)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('COLOUR = "blue"\n')
    with pytest.raises(ConfigError, match="unknown setting 'COLOUR'"):
        resolve({}, {}, unknown)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHATWOOT_BASE_URL": "https://chat.example.com:abc"}, "has an invalid port"),
        ({"SUPABASE_URL": "https://db.example.com:99999"}, "has an invalid port"),
        ({"CHATWOOT_API_TOKEN": "tökén"}, "not printable ASCII"),
        ({"CHATWOOT_API_TOKEN": "two words"}, "contains spaces"),
    ],
)
def test_values_that_would_fail_later_fail_here(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        resolve({}, env)
    assert "tökén" not in str(caught.value) and "two words" not in str(caught.value)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_instants_out_of_range_are_refused_at_the_edge(text: str) -> None:
    with pytest.raises(ValueError, match="is out of range: use an instant between 1970 and 9000"):
        parse_instant(text)
