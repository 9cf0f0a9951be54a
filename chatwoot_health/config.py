"""Configuration: flag > environment variable > TOML config file > default, resolved in one place.

Every setting is declared once in :data:`SETTINGS` (its environment variable, parser, default and
help); the README's variable table is tested against this list. A bad value raises
:class:`ConfigError` naming the variable, which the CLI prints as one line and exits UNKNOWN.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr

from chatwoot_health.artifacts import DEFAULT_ARTIFACTS_DIR
from chatwoot_health.redact import redact_url, register_secret
from chatwoot_health.thresholds import (
    DEFAULT_BUSINESS_DAYS,
    DEFAULT_CLOSES_MINUTE,
    DEFAULT_OPENS_MINUTE,
    DEFAULT_TIMEZONE,
    RETRY_INTERVAL,
    SERVICE_DOWN_AFTER,
)
from chatwoot_health.timeutil import format_duration, parse_duration

if TYPE_CHECKING:
    from chatwoot_health.check import Alerting
    from chatwoot_health.metrics.business_hours import BusinessCalendar
    from chatwoot_health.models.settings import CheckSettings, SupabaseSettings
    from chatwoot_health.notify.channels import Channel
    from chatwoot_health.report.options import ReportSettings


class ConfigError(Exception):
    """A missing or invalid setting; the message is one line and names the variable."""


def _url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL, e.g. https://chat.example.com")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    if not value.strip().isascii() or any(ch.isspace() for ch in value.strip()):
        raise ValueError(f"{value!r} contains spaces or non-ASCII characters; percent-encode them")
    if parts.username or parts.password:
        raise ValueError("the URL must not carry credentials; use the token variable instead")
    return value.strip().rstrip("/")


def _positive_int(value: str) -> int:
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):  # ASCII only: int() also takes "١٢" and "1_0"
        raise ValueError(f"{value!r} is not a whole number")
    if len(text.lstrip("+-")) > 18:
        raise ValueError("has more than 18 digits")
    number = int(text)
    if number <= 0:
        raise ValueError(f"{value!r} must be a positive whole number")
    return number


def _seconds(value: str) -> float:
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = parse_duration(text).total_seconds()
    # Written so that NaN (which fails every comparison) is refused too, like inf and 1e999.
    if not (math.isfinite(seconds) and 0 < seconds <= 3600):
        raise ValueError(f"{value!r} must be between 0 and 3600 seconds")
    return seconds


def _duration(value: str) -> timedelta:
    return parse_duration(value)


def _secret(value: str) -> SecretStr:
    text = value.strip()
    if not text:
        raise ValueError("is empty")
    if not text.isascii() or not text.isprintable() or any(ch.isspace() for ch in text):
        # It travels in an HTTP header, which takes printable ASCII only.
        raise ValueError("contains spaces or characters that are not printable ASCII")
    return SecretStr(text)


def _path(value: str) -> Path:
    if not value.strip():
        raise ValueError("is empty")
    return Path(value.strip()).expanduser()


def _liveness_path(value: str) -> str:
    text = value.strip()
    if not text.startswith("/") or " " in text:
        raise ValueError(f"{value!r} must be a path starting with '/', e.g. /health")
    return text


def _store_url(value: str) -> str:
    """A PostgreSQL connection URL (a Supabase project's works the same); its password is
    registered for redaction before anything can quote it."""
    text = value.strip()
    parts = urlsplit(text)
    register_secret(parts.password)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"{redact_url(text)!r} is not a postgresql:// URL, e.g. "
            "postgresql://chatwoot_health:PASSWORD@db.example.com:5432/monitoring"
        )
    if not text.isascii() or any(ch.isspace() for ch in text):
        raise ValueError("contains spaces or non-ASCII characters; percent-encode them")
    return text


def _location(value: str) -> str:
    text = value.strip()
    if not text or len(text) > 64 or not all(ch.isalnum() or ch in "-_." for ch in text):
        raise ValueError(f"{value!r} must be 1-64 letters, digits, '-', '_' or '.', e.g. eu-west")
    return text


def _timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA time zone name, e.g. America/New_York"
        ) from None


_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _business_hours(value: str) -> tuple[int, int]:
    """``09:00-17:00`` → (540, 1020): opening and closing minute of the local day."""
    match = _HOURS.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a range of hours, e.g. 09:00-17:00")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    opens, closes = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or closes > 24 * 60:
        raise ValueError(f"{value!r} has an impossible time of day")
    if closes <= opens:
        raise ValueError(f"{value!r}: closing time must be after opening time (same day)")
    return opens, closes


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _business_days(value: str) -> frozenset[int]:
    days: set[int] = set()
    for part in value.lower().replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            first, _, last = part.partition("-")
            if first[:3] not in _DAYS or last[:3] not in _DAYS:
                raise ValueError(f"{part!r} is not a range of weekdays, e.g. mon-fri")
            a, b = _DAYS.index(first[:3]), _DAYS.index(last[:3])
            if b < a:
                raise ValueError(f"{part!r}: a range of weekdays runs from Monday towards Sunday")
            days.update(range(a, b + 1))
        elif part[:3] in _DAYS:
            days.add(_DAYS.index(part[:3]))
        else:
            raise ValueError(f"{part!r} is not a weekday (mon, tue, …, sun)")
    if not days:
        raise ValueError("no business days given")
    return frozenset(days)


def _holidays(value: str) -> frozenset[date]:
    result: set[date] = set()
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        try:
            result.add(date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a date (YYYY-MM-DD)") from None
    return frozenset(result)


def _table_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", value.strip()):
        raise ValueError(f"{value!r} is not a table name")
    return value.strip()


def _host(value: str) -> str:
    text = value.strip()
    if not text or not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", text):
        raise ValueError(f"{value!r} is not a host name or IP address, e.g. 127.0.0.1")
    return text.strip("[]")


def _port(value: str) -> int:
    port = _positive_int(value)
    if port > 65535:
        raise ValueError(f"{value!r} is not a TCP port (1-65535)")
    return port


def _prefix(value: str) -> str:
    """``admin/health/`` → ``/admin/health``; ``/`` → ``""`` (the app at the root)."""
    text = value.strip()
    if not re.fullmatch(r"/?([A-Za-z0-9._~-]+/?)*", text):
        raise ValueError(f"{value!r} is not a URL path prefix, e.g. /admin/chatwoot-health")
    text = "/" + text.strip("/")
    return "" if text == "/" else text


def _long_secret(minimum: int) -> Callable[[str], SecretStr]:
    def parse(value: str) -> SecretStr:
        secret = _secret(value)
        if len(secret.get_secret_value()) < minimum:
            raise ValueError(f"is shorter than {minimum} characters")
        return secret

    return parse


def _down_after(value: str) -> timedelta:
    return timedelta(seconds=_seconds(value))


def _channels(value: str) -> tuple[Channel, ...]:
    """Apprise URLs, checked by Apprise now: a bad one fails here (one line naming the entry by
    number and scheme, never its text), not at the first outage."""
    from chatwoot_health.notify.channels import parse_channels

    return tuple(parse_channels(value))


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value (1, true, yes, on / 0, false, no, off)")


@dataclass(frozen=True)
class Setting:
    key: str  # the option's dest in Python, also the TOML key (lower case)
    env: str
    parse: Callable[[str], Any]
    default: str | None
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "base_url",
        "CHATWOOT_BASE_URL",
        _url,
        None,
        "Chatwoot base URL, e.g. https://chat.example.com (required).",
    ),
    Setting(
        "api_token",
        "CHATWOOT_API_TOKEN",
        _secret,
        None,
        "Access token of a Chatwoot user (Profile settings); needed by the authenticated "
        "probes. An administrator's token also enables the per-inbox report probe.",
        secret=True,
    ),
    Setting(
        "api_token_file",
        "CHATWOOT_API_TOKEN_FILE",
        _path,
        None,
        "A file holding CHATWOOT_API_TOKEN (trailing newlines stripped), so that no command "
        "line or environment carries it; set one of the two.",
    ),
    Setting(
        "account_id",
        "CHATWOOT_ACCOUNT_ID",
        _positive_int,
        None,
        "Numeric account id (the number in /app/accounts/N/…); needed by account probes.",
    ),
    Setting(
        "health_path",
        "CHATWOOT_HEALTH_PATH",
        _liveness_path,
        None,
        "Pin the liveness path (e.g. /health) and disable the /rails/health → /health → /api "
        "fallback.",
    ),
    Setting(
        "agent_health_url",
        "AGENT_HEALTH_URL",
        _url,
        None,
        "Health URL of the AI agent service; unset = that probe is 'not configured'.",
    ),
    Setting(
        "artifacts_dir",
        "CHATWOOT_HEALTH_ARTIFACTS_DIR",
        _path,
        str(DEFAULT_ARTIFACTS_DIR),
        "Where artifacts are written and read (relative to the working directory).",
    ),
    Setting(
        "timeout",
        "CHATWOOT_HEALTH_TIMEOUT",
        _seconds,
        "5",
        "Timeout of each HTTP request of a probe, in seconds (or a duration such as 5s); a 429 "
        "is retried once.",
    ),
    Setting(
        "agent_slow",
        "AGENT_HEALTH_SLOW_AFTER",
        _seconds,
        "5",
        "The AI agent answering 2xx later than this (seconds) counts as slow (degraded).",
    ),
    Setting(
        "agent_timeout",
        "AGENT_HEALTH_TIMEOUT",
        _seconds,
        "10",
        "Give up on the AI agent after this many seconds (offline); must exceed the slow "
        "threshold so that 'slow' can be seen.",
    ),
    Setting(
        "run_timeout",
        "CHATWOOT_HEALTH_RUN_TIMEOUT",
        _seconds,
        "60",
        "Deadline of a whole `check` run in seconds: probes still running then are recorded as "
        "failed and the artifact is written. Confirming an outage (re-probing liveness) may "
        "take longer: up to DOWN_AFTER + RETRY_INTERVAL + TIMEOUT from the first failure.",
    ),
    Setting(
        "retry_interval",
        "CHATWOOT_HEALTH_RETRY_INTERVAL",
        _seconds,
        f"{RETRY_INTERVAL.total_seconds():g}",
        "`check`: after a failed liveness probe, re-probe this often (seconds, or a duration) "
        "until it answers or the failure has lasted CHATWOOT_HEALTH_DOWN_AFTER.",
    ),
    Setting(
        "down_after",
        "CHATWOOT_HEALTH_DOWN_AFTER",
        _down_after,
        format_duration(SERVICE_DOWN_AFTER),
        "Liveness failing this long (first to last failed probe, across runs) is service_down; "
        "`check` re-probes until then, so the alert starts in that run.",
    ),
    Setting(
        "interval",
        "CHATWOOT_HEALTH_INTERVAL",
        _duration,
        "5m",
        "How often cron runs `check`; sets expected runs, coverage and staleness.",
    ),
    Setting(
        "timezone",
        "CHATWOOT_HEALTH_TIMEZONE",
        _timezone,
        DEFAULT_TIMEZONE,
        "Time zone of the business hours (IANA name).",
    ),
    Setting(
        "business_hours",
        "CHATWOOT_HEALTH_BUSINESS_HOURS",
        _business_hours,
        "09:00-17:00",
        "Opening hours on business days, local time.",
    ),
    Setting(
        "business_days",
        "CHATWOOT_HEALTH_BUSINESS_DAYS",
        _business_days,
        "mon-fri",
        "Business days, e.g. mon-fri or mon,tue,thu.",
    ),
    Setting(
        "holidays",
        "CHATWOOT_HEALTH_HOLIDAYS",
        _holidays,
        "",
        "Comma-separated dates (YYYY-MM-DD) that are not business days.",
    ),
    Setting(
        "sla_target",
        "CHATWOOT_HEALTH_SLA_TARGET",
        _duration,
        "15m",
        "Business-hours response target for the SLA and the channel response-time target.",
    ),
    Setting(
        "supabase_url",
        "SUPABASE_URL",
        _url,
        None,
        "Supabase project URL; unset = the SLA and approvals sections are 'not configured'.",
    ),
    Setting(
        "supabase_key",
        "SUPABASE_KEY",
        _secret,
        None,
        "Supabase service-role key (the shipped migration turns row-level security on, so the "
        "public anon key reads nothing).",
        secret=True,
    ),
    Setting(
        "supabase_key_file",
        "SUPABASE_KEY_FILE",
        _path,
        None,
        "A file holding SUPABASE_KEY (trailing newlines stripped); set one of the two.",
    ),
    Setting(
        "supabase_timeout",
        "SUPABASE_TIMEOUT",
        _seconds,
        "10",
        "Timeout of each Supabase request in seconds.",
    ),
    Setting(
        "table_decision_log",
        "CHATWOOT_HEALTH_TABLE_DECISION_LOG",
        _table_name,
        "decision_log",
        "Name of the decision_log table.",
    ),
    Setting(
        "table_approvals_history",
        "CHATWOOT_HEALTH_TABLE_APPROVALS_HISTORY",
        _table_name,
        "approvals_history",
        "Name of the approvals_history table.",
    ),
    Setting(
        "table_notifications",
        "CHATWOOT_HEALTH_TABLE_NOTIFICATIONS",
        _table_name,
        "notifications",
        "Name of the notifications table.",
    ),
    Setting(
        "cache_dir",
        "CHATWOOT_HEALTH_CACHE_DIR",
        _path,
        ".chatwoot-health-cache",
        "Where the last good Supabase figures are cached for outages.",
    ),
    Setting(
        "alert_webhook_url",
        "ALERT_WEBHOOK_URL",
        _url,
        None,
        'Slack-compatible incoming-webhook URL: a notification channel (`{"text": …}`) for '
        "`check` and `report --notify`.",
        secret=True,
    ),
    Setting(
        "notify",
        "CHATWOOT_HEALTH_NOTIFY",
        _channels,
        None,
        "Apprise URLs (comma- or space-separated: mailto://…, slack://…, ntfy://…, json://…) "
        "where `check` delivers alert starts and resolutions, with ALERT_WEBHOOK_URL.",
        secret=True,
    ),
    Setting(
        "push_banners",
        "CHATWOOT_HEALTH_PUSH_BANNERS",
        _flag,
        "false",
        "yes = also push the banner alerts (uptime_below_target, monitoring_gap, stale_data); "
        "`check` then reads 30 days of runs.",
    ),
    Setting(
        "state_path",
        "CHATWOOT_HEALTH_STATE",
        _path,
        None,
        "The alert state database (open alerts, the outbox of messages); unset = "
        ".chatwoot-health.db in the artifacts directory.",
    ),
    Setting(
        "store",
        "CHATWOOT_HEALTH_STORE",
        _store_url,
        None,
        "postgresql://… of the shared store: `check` also writes each run there (and keeps the "
        "alert state there, shared by every probe host); `report` reads every location's runs "
        "from it. Its password is never shown.",
    ),
    Setting(
        "location",
        "CHATWOOT_HEALTH_LOCATION",
        _location,
        None,
        "The name of this probe host, recorded in each artifact (default: the host name).",
    ),
    Setting(
        "host",
        "CHATWOOT_HEALTH_HOST",
        _host,
        "127.0.0.1",
        "`serve`: the address to listen on; anything but loopback needs an admin credential.",
    ),
    Setting("port", "CHATWOOT_HEALTH_PORT", _port, "8787", "`serve`: the TCP port to listen on."),
    Setting(
        "prefix",
        "CHATWOOT_HEALTH_PREFIX",
        _prefix,
        "/admin/chatwoot-health",
        "`serve`: the URL path of the dashboard and its API (for a reverse proxy).",
    ),
    Setting(
        "admin_token",
        "CHATWOOT_HEALTH_ADMIN_TOKEN",
        _long_secret(16),
        None,
        "`serve`: the break-glass sign-in credential (at least 16 characters), for when Chatwoot "
        "is down; never sent to Chatwoot.",
        secret=True,
    ),
    Setting(
        "secret_key",
        "CHATWOOT_HEALTH_SECRET_KEY",
        _long_secret(32),
        None,
        "`serve`: signs the session cookie (at least 32 characters); unset = generated once into "
        ".chatwoot-health-secret (mode 0600) in the artifacts directory.",
        secret=True,
    ),
    Setting(
        "metrics_public",
        "CHATWOOT_HEALTH_METRICS_PUBLIC",
        _flag,
        "false",
        "`serve`: yes = /metrics answers without signing in (for a Prometheus scraper).",
    ),
    Setting(
        "liveness_interval",
        "CHATWOOT_HEALTH_LIVENESS_INTERVAL",
        _seconds,
        "30",
        "`serve`: between two full checks (every CHATWOOT_HEALTH_INTERVAL), probe liveness this "
        "often (seconds, or a duration); a change of verdict runs a full check at once.",
    ),
)

SETTINGS_BY_KEY = {setting.key: setting for setting in SETTINGS}
#: Secrets that may come from a file instead (Nagios' $USERn$ macros, systemd credentials,
#: container secrets): the secret's key → the key of the setting naming its file.
SECRET_FILES = {"api_token": "api_token_file", "supabase_key": "supabase_key_file"}
#: A token is a line; anything bigger is the wrong file.
MAX_SECRET_FILE_BYTES = 64 * 1024
CONFIG_FILE_ENV = "CHATWOOT_HEALTH_CONFIG"
#: Any value but empty, 0, false, no or off: an unexpected error prints its traceback (as --debug).
DEBUG_ENV = "CHATWOOT_HEALTH_DEBUG"
#: A config file holds a few dozen lines; anything bigger is a mistake (or /dev/zero).
MAX_CONFIG_BYTES = 1_000_000
#: No setting is longer than a URL; a longer value is refused before it is parsed or echoed.
MAX_VALUE_CHARS = 2000
# C0 controls, DEL and C1 controls: never part of a URL, a path, a name or a number.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def debug_wanted(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(DEBUG_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _read_bounded(path: Path, limit: int = MAX_CONFIG_BYTES, what: str = "") -> bytes:
    """The file's bytes if it is a regular file of at most :data:`MAX_CONFIG_BYTES`.

    The one bounded reader (:func:`fileio.read_regular`: non-blocking open, ``fstat`` before
    reading), so a FIFO never blocks and a device (``/dev/zero``) is never read. A symbolic link
    is followed here (a config file is often one), and its target is checked like the file.
    """
    from chatwoot_health.fileio import NotReadable, read_regular

    what = what or f"config file {path}"
    try:
        return read_regular(os.path.realpath(path), limit)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found") from None
    except NotReadable as exc:
        raise ConfigError(f"{what} is refused: {exc.strerror}") from None
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read: {exc.strerror}") from None


def _read_config_file(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(_read_bounded(path).decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not valid TOML: not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is not valid TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    by_name = {setting.env.lower(): setting for setting in SETTINGS}
    by_name.update({setting.key: setting for setting in SETTINGS})
    values: dict[str, str] = {}
    for name, value in data.items():
        setting = by_name.get(name.lower())
        if setting is None:
            raise ConfigError(f"config file {path}: unknown setting {name[:100]!r}")
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"config file {path}: {name} must be a string or a number")
        values[setting.key] = str(value)
    return values


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    keys: tuple[str, ...] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Resolve ``keys`` (default: all settings) to parsed values, or None where unset.

    ``flags`` holds values given on the command line (None = not given). A secret of
    :data:`SECRET_FILES` is read from its file when that is set; ``warnings`` receives a line
    for a file that every user may read.
    """
    if keys is not None:
        keys = keys + tuple(SECRET_FILES[key] for key in keys if key in SECRET_FILES)
    environ = os.environ if env is None else env
    if config_file is None and environ.get(CONFIG_FILE_ENV):
        config_file = Path(environ[CONFIG_FILE_ENV])
    from_file = _read_config_file(config_file) if config_file is not None else {}
    resolved: dict[str, Any] = {}
    for setting in SETTINGS:
        if keys is not None and setting.key not in keys:
            continue
        flag_value = flags.get(setting.key)
        if flag_value is not None and not isinstance(flag_value, str):
            if isinstance(flag_value, Path):  # typed by Click, but a path is still text
                _gate(setting, str(flag_value), "flag")
            resolved[setting.key] = flag_value  # already typed by the CLI's parameter types
            continue
        source, raw = "flag", flag_value
        if raw is None and environ.get(setting.env, "") != "":
            source, raw = "env", environ[setting.env]
        if raw is None and setting.key in from_file:
            source, raw = "file", from_file[setting.key]
        if raw is None:
            source, raw = "default", setting.default
        if raw is None:
            resolved[setting.key] = None
            continue
        resolved[setting.key] = _parse(setting, raw, source)
    for key, file_key in SECRET_FILES.items():
        path = resolved.get(file_key)
        if path is None or key not in resolved:
            continue
        secret, holder = SETTINGS_BY_KEY[key], SETTINGS_BY_KEY[file_key]
        if resolved[key] is not None:
            raise ConfigError(f"{secret.env} and {holder.env} are both set: use one of them")
        resolved[key] = _secret_from_file(secret, holder, path, warnings)
    return resolved


def _secret_from_file(
    secret: Setting, holder: Setting, path: Path, warnings: list[str] | None
) -> SecretStr:
    """The secret in ``path``: a regular file (links followed) of one line, at most 64 KB; its
    trailing newlines are stripped, a missing or empty file is an error, and a file every user can
    read is worth a warning."""
    import stat

    where = f"{holder.env} ({path})"
    data = _read_bounded(path, MAX_SECRET_FILE_BYTES, where)
    try:
        mode = os.stat(os.path.realpath(path)).st_mode
    except OSError:
        mode = 0
    if mode & stat.S_IROTH and warnings is not None:
        warnings.append(f"{where} is readable by every user: chmod o-r it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise ConfigError(f"{where}: the file is empty")
    value: SecretStr = _parse(secret, text, "secret_file")
    return value


_SOURCE = {
    "flag": " (option)",
    "env": "",
    "file": " (config file)",
    "default": "",
    "secret_file": " (from its file)",
}


def _gate(setting: Setting, raw: str, source: str) -> str:
    """Refuse a value that is too long or holds a control character; return where it came from."""
    if setting.secret:
        register_secret(raw.strip())  # from now on, any message quoting it is redacted
    where = f"{setting.env}{_SOURCE[source]}"
    if len(raw) > MAX_VALUE_CHARS:
        raise ConfigError(f"{where}: longer than {MAX_VALUE_CHARS} characters")
    control = _CONTROL.search(raw)
    if control:
        raise ConfigError(
            f"{where}: contains a control character (U+{ord(control.group()):04X}) "
            f"at position {control.start()}"
        )
    return where


def _parse(setting: Setting, raw: str, source: str) -> Any:
    """The one gate every setting's text passes: length, control characters, then its parser.

    A failure is a :class:`ConfigError` of one line naming the variable; a secret's value is
    never echoed, and any URL in the message has its credentials redacted.
    """
    where = _gate(setting, raw, source)
    try:
        return setting.parse(raw)
    except ValueError as exc:
        reason = str(exc)
        if setting.secret:  # never echo a secret, even a malformed one
            for shown in (repr(raw), repr(raw.strip()), raw, raw.strip()):
                if shown:
                    reason = reason.replace(shown, "(value hidden)")
        raise ConfigError(f"{where}: {redact_url(reason)}") from None


def require(values: Mapping[str, Any], key: str, why: str) -> Any:
    value = values.get(key)
    if value is None:
        raise ConfigError(f"{SETTINGS_BY_KEY[key].env} is not set: {why}")
    return value


# ------------------------------------------------------------------------------ typed settings
# What the commands receive: the resolved values, checked together and typed. Imported lazily,
# so that ``--help`` loads none of the types.

CHECK_KEYS = (
    "base_url",
    "api_token",
    "account_id",
    "health_path",
    "agent_health_url",
    "artifacts_dir",
    "timeout",
    "agent_slow",
    "agent_timeout",
    "run_timeout",
    "retry_interval",
    "down_after",
    "push_banners",
    "state_path",
    "store",
    "location",
)
#: What ``check``'s alert step reads beside :data:`CHECK_KEYS` (not with ``--no-notify``): where
#: messages go, the schedule, and the business calendar of channel_outage.
ALERT_KEYS = (
    "notify",
    "alert_webhook_url",
    "interval",
    "timezone",
    "business_hours",
    "business_days",
    "holidays",
    "sla_target",
    "supabase_url",
)


def check_settings(values: Mapping[str, Any], liveness_only: bool) -> CheckSettings:
    """``check``'s settings from :func:`resolve` (of :data:`CHECK_KEYS` only: a typo in a
    report-only variable must not break cron)."""
    from chatwoot_health.models.settings import CheckSettings

    require(values, "base_url", "the Chatwoot URL to probe, e.g. https://chat.example.com")
    if not liveness_only:
        why = "the authenticated probes need it (or use --liveness-only)"
        require(values, "api_token", why)
        require(values, "account_id", why)
    if values["agent_timeout"] <= values["agent_slow"]:
        raise ConfigError(
            "AGENT_HEALTH_TIMEOUT must be greater than AGENT_HEALTH_SLOW_AFTER "
            f"({values['agent_timeout']:g} ≤ {values['agent_slow']:g} s): "
            "otherwise 'slow' can never be seen"
        )
    typed = {key: values[key] for key in CHECK_KEYS}
    typed["location"] = values["location"] or default_location()
    return CheckSettings(**typed, liveness_only=liveness_only)


def default_location() -> str:
    """CHATWOOT_HEALTH_LOCATION's default: this host's name (its first label)."""
    import socket

    name = socket.gethostname().split(".", 1)[0].strip()
    try:
        return _location(name)
    except ValueError:
        return "local"


def check_channels(values: Mapping[str, Any]) -> tuple[Channel, ...]:
    """Where alerts go: the Apprise URLs of CHATWOOT_HEALTH_NOTIFY, then ALERT_WEBHOOK_URL."""
    channels = tuple(values.get("notify") or ())
    if not values.get("alert_webhook_url"):
        # No import of the notification package for nothing: ~10 ms of every report.
        return channels
    from chatwoot_health.notify.channels import webhook_channel

    return (*channels, *webhook_channel(values["alert_webhook_url"]))


def check_alerting(values: Mapping[str, Any], typed: CheckSettings) -> Alerting:
    """``check``'s alert step from :func:`resolve` (of :data:`CHECK_KEYS` and
    :data:`ALERT_KEYS`)."""
    from chatwoot_health.check import Alerting

    return Alerting(
        channels=check_channels(values),
        interval=values["interval"],
        calendar=business_calendar(values),
        sla_target=values["sla_target"],
        push_banners=typed.push_banners,
        state_path=typed.state_path,
        supabase=values.get("supabase_url") is not None,
    )


def business_calendar(values: Mapping[str, Any]) -> BusinessCalendar:
    """The business calendar of ``timezone``, ``business_hours``, ``business_days`` and
    ``holidays``, so every command reads them alike."""
    from chatwoot_health.metrics.business_hours import BusinessCalendar

    opens, closes = values.get("business_hours") or (DEFAULT_OPENS_MINUTE, DEFAULT_CLOSES_MINUTE)
    return BusinessCalendar(
        tz=values.get("timezone") or ZoneInfo(DEFAULT_TIMEZONE),
        opens=opens,
        closes=closes,
        days=values.get("business_days") or DEFAULT_BUSINESS_DAYS,
        holidays=values.get("holidays") or frozenset(),
    )


def supabase_settings(values: Mapping[str, Any]) -> SupabaseSettings | None:
    """None when Supabase is not configured; SUPABASE_URL and SUPABASE_KEY go together."""
    url, key = values.get("supabase_url"), values.get("supabase_key")
    if url is None and key is None:
        return None
    if url is None or key is None:
        missing = "SUPABASE_URL" if url is None else "SUPABASE_KEY"
        raise ConfigError(f"{missing} is not set: SUPABASE_URL and SUPABASE_KEY go together")
    from chatwoot_health.models.settings import SupabaseSettings

    return SupabaseSettings(
        url=url,
        key=key,
        timeout=values["supabase_timeout"],
        decision_log=values["table_decision_log"],
        approvals_history=values["table_approvals_history"],
        notifications=values["table_notifications"],
    )


def report_settings(values: Mapping[str, Any]) -> ReportSettings:
    """``report``'s settings from :func:`resolve` (of every key)."""
    from chatwoot_health.alerts import PROACTIVE, PUSHABLE_BANNERS
    from chatwoot_health.report.options import ReportSettings

    banners = PUSHABLE_BANNERS if values.get("push_banners") else frozenset()
    return ReportSettings(
        artifacts_dir=values["artifacts_dir"],
        interval=values["interval"],
        calendar=business_calendar(values),
        sla_target=values["sla_target"],
        cache_dir=values["cache_dir"],
        supabase=supabase_settings(values),
        # report --notify: check's channels, state and pushed alerts
        channels=check_channels(values),
        state_path=values.get("state_path"),
        pushed=PROACTIVE | banners,
        down_after=values["down_after"],
        store=values.get("store"),
        location=values.get("location") or default_location(),
    )
