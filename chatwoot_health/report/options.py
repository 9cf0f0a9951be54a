"""What one ``report`` is asked for: typed settings, the run's options, the section windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chatwoot_health.alerts import PROACTIVE
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.settings import SupabaseSettings
from chatwoot_health.thresholds import DEFAULT_TIMEZONE, RESPONSE_TARGET, SERVICE_DOWN_AFTER

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from chatwoot_health.notify.channels import Channel

DEFAULT_UPTIME_WINDOW = timedelta(days=30)
DEFAULT_CHANNEL_WINDOW = timedelta(hours=24)
DEFAULT_SLA_WINDOW = timedelta(days=7)
DEFAULT_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class ReportOptions:
    artifacts_dir: Path
    now: datetime
    window: timedelta | None = None
    interval: timedelta = DEFAULT_INTERVAL
    min_uptime: float | None = None
    calendar: BusinessCalendar = field(
        default_factory=lambda: BusinessCalendar(tz=ZoneInfo(DEFAULT_TIMEZONE))
    )
    sla_target: timedelta = RESPONSE_TARGET
    live: bool = True  # False for a report of the past (--at): caches are left alone
    #: service_down's threshold (CHATWOOT_HEALTH_DOWN_AFTER), the same one ``check`` confirms.
    down_after: timedelta = SERVICE_DOWN_AFTER
    #: The shared store (CHATWOOT_HEALTH_STORE): every location's runs are read from it.
    store: str | None = None
    #: This host's location: the runs without one (the local files, older artifacts) are its.
    location: str = ""
    #: ``serve``'s pool of connections to the store (``of`` leaves it None: connect per report).
    store_pool: ConnectionPool[Any] | None = None

    @classmethod
    def of(
        cls,
        settings: ReportSettings,
        now: datetime,
        window: timedelta | None,
        min_uptime: float | None,
        live: bool,
    ) -> ReportOptions:
        return cls(
            artifacts_dir=settings.artifacts_dir,
            now=now,
            window=window,
            interval=settings.interval,
            min_uptime=min_uptime,
            calendar=settings.calendar,
            sla_target=settings.sla_target,
            live=live,
            down_after=settings.down_after,
            store=settings.store,
            location=settings.location,
        )


@dataclass(frozen=True)
class ReportSettings:
    """The report's settings, resolved and typed by :mod:`chatwoot_health.config`."""

    artifacts_dir: Path
    #: How often cron runs ``check``: expected runs, coverage, staleness.
    interval: timedelta
    #: Built by the config layer from the time zone, hours, days and holidays.
    calendar: BusinessCalendar
    sla_target: timedelta
    #: Where the last good Supabase sections are kept for outages.
    cache_dir: Path
    #: None: the SLA and approvals sections are "not configured".
    supabase: SupabaseSettings | None
    #: Where ``report --notify`` delivers: the same channels as ``check`` (Apprise URLs of
    #: CHATWOOT_HEALTH_NOTIFY and ALERT_WEBHOOK_URL).
    channels: tuple[Channel, ...] = ()
    #: The notification state shared with ``check``; None: beside the artifacts.
    state_path: Path | None = None
    #: The alert names pushed to people (the proactive ones, plus banners when asked).
    pushed: frozenset[str] = PROACTIVE
    #: service_down's threshold (CHATWOOT_HEALTH_DOWN_AFTER), the same one ``check`` confirms.
    down_after: timedelta = SERVICE_DOWN_AFTER
    #: The shared store's postgresql:// URL (CHATWOOT_HEALTH_STORE); None: the files only.
    store: str | None = None
    #: CHATWOOT_HEALTH_LOCATION (default: the host name).
    location: str = ""


@dataclass(frozen=True)
class SectionWindows:
    uptime: Window  # also response time, the timeline and the report's own window
    channels: Window
    sla: Window


def section_windows(options: ReportOptions) -> SectionWindows:
    """Each section's own window, or ``--window`` for all of them."""
    return windows_ending(options.now, options.window)


def windows_ending(now: datetime, window: timedelta | None = None) -> SectionWindows:
    """Each section's default window ending at ``now`` (``check`` judges over these), or
    ``window`` for all of them."""

    def make(default: timedelta) -> Window:
        return Window.ending(now, window or default)

    return SectionWindows(
        uptime=make(DEFAULT_UPTIME_WINDOW),
        channels=make(DEFAULT_CHANNEL_WINDOW),
        sla=make(DEFAULT_SLA_WINDOW),
    )
