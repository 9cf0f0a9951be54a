"""``report``: aggregate the artifacts (and Supabase, when configured) into a :class:`Report`.

Pure orchestration: reads the artifacts of the window once, calls the metric functions and the
alert rules with the report's single ``now``, and returns the report and its exit code. No Click,
no printing, no ``sys.exit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from chatwoot_health import __version__, alerts
from chatwoot_health.alerts import Alert, Severity, alert_text, worst_severity
from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.artifacts.store import ArtifactDirectory, ArtifactSet, read_window
from chatwoot_health.metrics.agents import agent_status
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels import (
    ChannelActivity,
    channel_horizon,
    compute_channels,
)
from chatwoot_health.metrics.conversations import latest_conversations
from chatwoot_health.metrics.latency import (
    HEALTH_CHECK_TARGET_MS,
    Percentiles,
    compute_response_time,
    successful_durations,
)
from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.metrics.uptime import compute_uptime, monitoring_start
from chatwoot_health.metrics.window import Window
from chatwoot_health.report_model import (
    AgentsOut,
    AiAgentOut,
    AlertOut,
    ApprovalsOut,
    ArtifactsOut,
    ChannelOut,
    ChannelsMeta,
    ConversationsOut,
    HumansOut,
    LatencyTarget,
    PercentilesOut,
    Report,
    ResponseTimeOut,
    SkippedFile,
    SlaOut,
    TimelineBucket,
    UptimeOut,
    WindowOut,
)
from chatwoot_health.state import Colour, ExitCode
from chatwoot_health.timeutil import humanize_age, iso

DEFAULT_UPTIME_WINDOW = timedelta(days=30)
DEFAULT_CHANNEL_WINDOW = timedelta(hours=24)
DEFAULT_SLA_WINDOW = timedelta(days=7)
HOUR = timedelta(hours=1)


class NoData(Exception):
    """Nothing to report on (exit UNKNOWN); the message is one sentence."""


@dataclass(frozen=True)
class ReportOptions:
    artifacts_dir: Path
    now: datetime
    window: timedelta | None = None
    interval: timedelta = timedelta(minutes=5)
    min_uptime: float | None = None
    calendar: BusinessCalendar = field(
        default_factory=lambda: BusinessCalendar(tz=ZoneInfo("America/New_York"))
    )
    sla_target: timedelta = timedelta(minutes=15)
    live: bool = True  # False for a report of the past (--at): caches are left alone


@dataclass(frozen=True)
class ExtraSections:
    """Sections computed from other sources (Supabase) that slot into the report."""

    sla: SlaOut = field(default_factory=SlaOut)
    approvals: ApprovalsOut = field(default_factory=ApprovalsOut)
    alerts: list[Alert] = field(default_factory=list)
    latency_targets: list[LatencyTarget] = field(default_factory=list)


SectionProvider = Callable[[Sequence[ArtifactCore], dict[str, Window]], ExtraSections]


@dataclass(frozen=True)
class ReportOutcome:
    report: Report
    exit_code: ExitCode
    skipped: list[str]


def _window_out(window: Window) -> WindowOut:
    return WindowOut(label=window.label, start=window.start, end=window.end)


def section_windows(options: ReportOptions) -> dict[str, Window]:
    def make(default: timedelta) -> Window:
        return Window.ending(options.now, options.window or default)

    return {
        "uptime": make(DEFAULT_UPTIME_WINDOW),
        "channels": make(DEFAULT_CHANNEL_WINDOW),
        "sla": make(DEFAULT_SLA_WINDOW),
    }


def load(
    options: ReportOptions, listing: ArtifactDirectory
) -> tuple[ArtifactSet, dict[str, Window]]:
    windows = section_windows(options)
    earliest = min(window.start for window in windows.values())
    # Only the channel section reads per-inbox data, and only this far back (it looks for
    # silence over at least a week); the alert rules look back an hour at most.
    detail_since = channel_horizon(windows["channels"], options.now) - timedelta(hours=1)
    earliest = min(earliest, options.now - timedelta(hours=1), detail_since)
    found = read_window(listing, earliest, options.now, detail_since=detail_since)
    return found, windows


def build_report(
    options: ReportOptions,
    extra: SectionProvider | None = None,
) -> ReportOutcome:
    """Compute the report. Raises :class:`NoData` when the window holds no artifact."""
    listing = ArtifactDirectory(options.artifacts_dir)
    found, windows = load(options, listing)
    skipped = [f"skipped {item.path.name}: {item.reason}" for item in found.skipped]
    artifacts = found.artifacts
    uptime_window = windows["uptime"]
    in_window = uptime_window.select(artifacts)
    if not in_window:
        where = options.artifacts_dir
        if listing.first_time() is None:
            raise NoData(
                f"no artifacts in {where}: run `chatwoot-health check` first "
                "(or `chatwoot-health demo` to see a sample)"
            )
        raise NoData(
            f"no artifacts between {iso(uptime_window.start)} and "
            f"{iso(uptime_window.end)} in {where}: is cron running "
            "`chatwoot-health check`?"
        )
    now = options.now
    latest = artifacts[-1]
    monitoring_since = monitoring_start(listing.first_time(), artifacts)
    uptime = compute_uptime(artifacts, uptime_window, options.interval, monitoring_since)
    response = compute_response_time(artifacts, uptime_window)
    conversations = latest_conversations(in_window)
    channel_window = windows["channels"]
    channels = compute_channels(
        artifacts, channel_window, now, options.calendar, options.sla_target.total_seconds() / 60
    )
    agents = agent_status(in_window)
    sections = extra(artifacts, windows) if extra is not None else ExtraSections()

    # ------------------------------------------------------------------ alerts
    last_hour = Window.ending(now, HOUR)
    last_hour_values = sorted(
        v for values in successful_durations(last_hour.select(artifacts)).values() for v in values
    )
    p90_hour = percentile(last_hour_values, 90)
    candidates: list[Alert | None] = [
        alerts.service_down(in_window, now),
        alerts.high_queue(in_window, now),
        alerts.slow_response(p90_hour, last_hour.start),
        alerts.uptime_below_target(
            uptime.percent,
            uptime_window.label,
            options.min_uptime,
            _first_down(in_window) or uptime_window.start,
        ),
        alerts.monitoring_gap(
            uptime.missing_runs,
            uptime.expected_checks,
            uptime.coverage_percent,
            uptime_window.start,
        ),
        alerts.stale_data(latest.checked_at, now, options.interval),
        alerts.agent_offline(in_window),
        alerts.channel_outage(channels),
        alerts.channel_slow(channels, channel_window),
    ]
    active = [alert for alert in candidates if alert is not None]
    for alert in sections.alerts:
        if alert.name == "high_queue" and any(a.name == "high_queue" for a in active):
            continue
        active.append(alert)
    active.sort(key=lambda a: (a.severity is not Severity.CRITICAL, a.name))
    state = worst_severity(active)
    exit_code = state.exit_code

    targets = [
        LatencyTarget(
            name="health_check",
            target_ms=HEALTH_CHECK_TARGET_MS,
            p90_ms=response.overall.p90_ms,
            missed=response.health_target_missed,
        ),
        *sections.latency_targets,
    ]
    missed = sum(1 for target in targets if target.missed)
    if response.overall.samples == 0:
        response_colour = Colour.GREY
    else:
        response_colour = (Colour.GREEN, Colour.YELLOW)[missed] if missed < 2 else Colour.RED

    report = Report(
        generated_at=now,
        instance=latest.instance,
        window=_window_out(uptime_window),
        status=state,
        exit_code=int(exit_code),
        uptime=UptimeOut(
            current=uptime.current,
            last_checked_at=uptime.last_checked_at,
            last_checked_ago=humanize_age(now - uptime.last_checked_at)
            if uptime.last_checked_at
            else None,
            last_success_at=uptime.last_success_at,
            error=uptime.current_error,
            percent=None if uptime.percent is None else round(uptime.percent, 3),
            checks_up=uptime.checks_up,
            checks_down=uptime.checks_down,
            runs_seen=uptime.runs_seen,
            expected_checks=uptime.expected_checks,
            coverage_percent=None
            if uptime.coverage_percent is None
            else round(uptime.coverage_percent, 1),
            status=uptime.status,
            window=_window_out(uptime_window),
        ),
        response_time=ResponseTimeOut(
            median_ms=response.overall.median_ms,
            p90_ms=response.overall.p90_ms,
            p99_ms=response.overall.p99_ms,
            samples=response.overall.samples,
            by_check={name: _pct(p) for name, p in response.by_check.items()},
            target_ms=HEALTH_CHECK_TARGET_MS,
            targets=targets,
            targets_missed=missed,
            status=response_colour,
            window=_window_out(uptime_window),
        ),
        conversations=ConversationsOut(
            open=conversations.counts.open if conversations.counts else None,
            pending=conversations.counts.pending if conversations.counts else None,
            resolved=conversations.counts.resolved if conversations.counts else None,
            snoozed=conversations.counts.snoozed if conversations.counts else None,
            as_of=conversations.as_of,
            age=humanize_age(now - conversations.as_of) if conversations.as_of else None,
            stale=conversations.stale,
            banner=conversations.banner,
            status=conversations.status,
        ),
        channels=[_channel_out(c, options) for c in channels],
        channels_meta=ChannelsMeta(
            window=_window_out(channel_window),
            data="ok" if channels else "no_data",
            note=None if channels else _no_channel_data_reason(in_window),
        ),
        agents=AgentsOut(
            ai=AiAgentOut(
                state=agents.ai_state,
                duration_ms=agents.ai_duration_ms,
                error=agents.ai_error,
                checked_at=agents.ai_checked_at,
            ),
            humans=None
            if agents.humans is None
            else HumansOut(
                online=agents.humans.online,
                busy=agents.humans.busy,
                offline=agents.humans.offline,
                available=agents.available_names,
                as_of=agents.humans_as_of,
            ),
            status=agents.status,
        ),
        sla=sections.sla,
        approvals=sections.approvals,
        alerts=[AlertOut(**a.model_dump(), text=alert_text(a, now)) for a in active],
        timeline=timeline(artifacts, uptime_window, options.interval),
        artifacts=ArtifactsOut(
            read=found.read,
            skipped=len(found.skipped),
            skipped_files=[SkippedFile(file=s.path.name, reason=s.reason) for s in found.skipped],
            directory=str(options.artifacts_dir),
        ),
        tool_version=__version__,
    )
    return ReportOutcome(report, exit_code, skipped)


def _pct(p: Percentiles) -> PercentilesOut:
    return PercentilesOut(
        median_ms=p.median_ms, p90_ms=p.p90_ms, p99_ms=p.p99_ms, samples=p.samples
    )


def _channel_out(c: ChannelActivity, options: ReportOptions) -> ChannelOut:
    return ChannelOut(
        channel=c.channel,
        messages=c.messages,
        share_percent=c.share_percent,
        avg_first_response_minutes=c.avg_first_response_minutes,
        target_minutes=options.sla_target.total_seconds() / 60,
        responses=c.responses,
        last_message_hour=c.last_message_hour,
        silent_business_hours=round(c.silent_business_seconds / 3600, 2),
        status=c.status,
    )


def _no_channel_data_reason(artifacts: Sequence[ArtifactCore]) -> str:
    for artifact in reversed(artifacts):
        check = artifact.check("inbox_activity")
        if check is not None and check.skipped and check.skip_reason:
            return f"no per-inbox data: {check.skip_reason} (use an administrator's token)"
    return "no per-inbox activity recorded in this window"


def _first_down(artifacts: Sequence[ArtifactCore]) -> datetime | None:
    return next((a.checked_at for a in artifacts if a.liveness == "down"), None)


def timeline(
    artifacts: Sequence[ArtifactCore], window: Window, interval: timedelta
) -> list[TimelineBucket]:
    """Hourly bars up to 7 days, daily bars beyond: up, down and the runs expected."""
    step = HOUR if window.length <= timedelta(days=7) else timedelta(days=1)
    count = max(1, int(-(-window.length // step)))
    up, down = [0] * count, [0] * count
    durations: list[list[float]] = [[] for _ in range(count)]
    for artifact in window.select(artifacts):
        index = min(count - 1, int((artifact.checked_at - window.start) // step))
        state = artifact.liveness
        if state == "up":
            up[index] += 1
        elif state == "down":
            down[index] += 1
        durations[index].extend(duration for _name, duration in artifact.latencies)
    result = []
    for index in range(count):
        start = window.start + step * index
        end = min(start + step, window.end)
        values = sorted(durations[index])
        median, p90 = percentile(values, 50), percentile(values, 90)
        result.append(
            TimelineBucket(
                start=start,
                end=end,
                up=up[index],
                down=down[index],
                expected=int((end - start) / interval),
                median_ms=None if median is None else round(median, 1),
                p90_ms=None if p90 is None else round(p90, 1),
            )
        )
    return result
