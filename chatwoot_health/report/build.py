"""Build the report: read the window's runs once, from the artifact files or the shared store (a
:class:`Source` either way), compute each section with the metric functions (which return the
output models), raise the alerts, and return the report and its exit code. Pure orchestration
with the report's single ``now``: no Click, no printing, no ``sys.exit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from chatwoot_health import __version__, alerts
from chatwoot_health.alerts import alert_text, worst_severity
from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.artifacts.store import ArtifactDirectory, ArtifactSet, read_window
from chatwoot_health.metrics.agents import agent_status
from chatwoot_health.metrics.approvals import ReviewQueue
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels import channel_horizon, compute_channels
from chatwoot_health.metrics.conversations import latest_conversations
from chatwoot_health.metrics.latency import ResponseTime, compute_response_time
from chatwoot_health.metrics.timeline import bars_of, timeline_of
from chatwoot_health.metrics.uptime import compute_uptime, monitoring_start
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.alert import Alert
from chatwoot_health.models.report import (
    AlertOut,
    ApprovalsOut,
    ArtifactsOut,
    ChannelOut,
    ChannelsMeta,
    LatencyTarget,
    LocationOut,
    Report,
    ResponseTimeOut,
    SkippedFile,
    SlaOut,
    TimelineBucket,
    UptimeOut,
)
from chatwoot_health.report.options import ReportOptions, SectionWindows, section_windows
from chatwoot_health.state import Colour, ExitCode
from chatwoot_health.thresholds import RESPONSE_TIME_TARGET_MS
from chatwoot_health.timeutil import iso

HOUR = timedelta(hours=1)


class NoData(Exception):
    """Nothing to report on (exit UNKNOWN); the message is one sentence."""


@dataclass(frozen=True)
class ExtraSections:
    """Sections computed from other sources (Supabase) that slot into the report, and the
    evidence they give the alert rules."""

    sla: SlaOut = field(default_factory=SlaOut)
    approvals: ApprovalsOut = field(default_factory=ApprovalsOut)
    latency_targets: list[LatencyTarget] = field(default_factory=list)
    #: The approval queue: the second source of evidence of ``high_queue``.
    queue: ReviewQueue | None = None
    #: Why the source could not be read (raises ``supabase_unavailable``).
    unavailable: str | None = None


SectionProvider = Callable[[Sequence[ArtifactCore], SectionWindows], ExtraSections]


@dataclass(frozen=True)
class ReportOutcome:
    report: Report
    exit_code: ExitCode
    skipped: list[str]
    #: What the report was computed from (the window's runs, the directory's listing): for a
    #: caller that exits right after and keeps it to the end (see ``report.run``), instead of
    #: having ~100,000 objects freed one by one (~5 ms of a 30-day report).
    read: tuple[object, ...] = field(default=(), repr=False, compare=False)


class Source(Protocol):
    """Where the window's runs come from: the artifact files (:class:`FileSource`) or the shared
    store (``report.stored.StoreSource``, counted in SQL). Each gives what the sections that
    differ by source need; the latest-state sections and the alert rules read ``found``'s runs
    alike."""

    @property
    def found(self) -> ArtifactSet:
        """The runs decoded whole, oldest first (the store's: its tail), and what was skipped."""
        ...

    @property
    def location(self) -> str:
        """The location the alert rules give this host."""
        ...

    def no_data(self, window: Window) -> str:
        """Why the window holds no run (one sentence)."""
        ...

    def uptime(self, window: Window, interval: timedelta) -> UptimeOut: ...

    def response_time(self, window: Window) -> ResponseTime: ...

    def channels(
        self, window: Window, now: datetime, calendar: BusinessCalendar, target_minutes: float
    ) -> list[ChannelOut]: ...

    def timeline(self, window: Window, interval: timedelta) -> list[TimelineBucket]: ...

    def locations(self) -> list[LocationOut] | None:
        """Each location's figures; None unless the store holds several."""
        ...


@dataclass(frozen=True)
class FileSource:
    """The artifact files as the report's source: every run of the reach, read once."""

    found: ArtifactSet
    listing: ArtifactDirectory
    #: The files' runs are this host's: the alert rules name no location (as before the store).
    location: str = ""

    def no_data(self, window: Window) -> str:
        where = self.listing.path
        if self.listing.first_time() is None:
            return (
                f"no artifacts in {where}: run `chatwoot-health check` first "
                "(or `chatwoot-health demo` to see a sample)"
            )
        return (
            f"no artifacts between {iso(window.start)} and {iso(window.end)} in {where}: is cron "
            "running `chatwoot-health check`?"
        )

    def uptime(self, window: Window, interval: timedelta) -> UptimeOut:
        artifacts = self.found.artifacts
        since = monitoring_start(self.listing.first_time(), artifacts)
        return compute_uptime(artifacts, window, interval, since)

    def response_time(self, window: Window) -> ResponseTime:
        return compute_response_time(self.found.artifacts, window)

    def channels(
        self, window: Window, now: datetime, calendar: BusinessCalendar, target_minutes: float
    ) -> list[ChannelOut]:
        return compute_channels(self.found.artifacts, window, now, calendar, target_minutes)

    def timeline(self, window: Window, interval: timedelta) -> list[TimelineBucket]:
        return timeline(self.found.artifacts, window, interval)

    def locations(self) -> list[LocationOut] | None:
        return None


def _reach(windows: SectionWindows, now: datetime) -> tuple[datetime, datetime]:
    """How far back the report reads, and from when with the per-inbox data."""
    earliest = min(windows.uptime.start, windows.channels.start, windows.sla.start)
    # Only the channel section reads per-inbox data, and only this far back (it looks for
    # silence over at least a week); the alert rules look back an hour at most.
    detail_since = channel_horizon(windows.channels, now) - HOUR
    return min(earliest, now - HOUR, detail_since), detail_since


def _open(
    options: ReportOptions, windows: SectionWindows, listing: ArtifactDirectory
) -> tuple[Source, str | None]:
    """The store when one is configured and can be read, else the files; and, when the store
    could not be read, the one warning line saying so."""
    earliest, detail_since = _reach(windows, options.now)
    warning = None
    if options.store is not None:
        from chatwoot_health.report.stored import open_store
        from chatwoot_health.store.db import StoreError

        try:
            return open_store(options.store, options, windows.uptime, earliest, detail_since), None
        except StoreError as exc:
            warning = f"{exc}; reporting from the local files in {options.artifacts_dir}"
    found = read_window(listing, earliest, options.now, detail_since=detail_since)
    return FileSource(found, listing), warning


def build_report(options: ReportOptions, extra: SectionProvider | None = None) -> ReportOutcome:
    """Compute the report. Raises :class:`NoData` when the window holds no artifact."""
    listing = ArtifactDirectory(options.artifacts_dir)
    windows = section_windows(options)
    source, warning = _open(options, windows, listing)
    found = source.found
    artifacts = found.artifacts
    in_window = windows.uptime.select(artifacts)
    if not in_window:
        raise NoData(source.no_data(windows.uptime))
    now = options.now
    uptime = source.uptime(windows.uptime, options.interval)
    target_minutes = options.sla_target.total_seconds() / 60
    channels = source.channels(windows.channels, now, options.calendar, target_minutes)
    sections = extra(artifacts, windows) if extra is not None else ExtraSections()
    active = _alerts(
        options, windows, artifacts, in_window, uptime, channels, sections, source.location
    )
    state = worst_severity(active)
    report = Report(
        generated_at=now,
        instance=artifacts[-1].instance,
        window=windows.uptime.out(),
        status=state,
        exit_code=int(state.exit_code),
        uptime=uptime,
        response_time=_response_time(
            source.response_time(windows.uptime), windows.uptime, sections.latency_targets
        ),
        conversations=latest_conversations(in_window, now),
        channels=channels,
        channels_meta=_channels_meta(channels, windows.channels, in_window),
        agents=agent_status(in_window),
        sla=sections.sla,
        approvals=sections.approvals,
        alerts=[AlertOut(**dict(a), text=alert_text(a, now)) for a in active],
        timeline=source.timeline(windows.uptime, options.interval),
        artifacts=_artifacts_out(found, options.artifacts_dir),
        tool_version=__version__,
        locations=source.locations(),
    )
    skipped = [f"skipped {item.path.name}: {item.reason}" for item in found.skipped]
    if warning is not None:
        skipped.insert(0, warning)
    return ReportOutcome(report, state.exit_code, skipped, (source, listing))


# ------------------------------------------------------------------------------------ sections


def _response_time(
    response: ResponseTime, window: Window, extra_targets: Sequence[LatencyTarget]
) -> ResponseTimeOut:
    """The health checks' percentiles, judged with the other latency targets (Supabase): green
    when none is missed, yellow for one, red for more."""
    overall = response.overall
    health = LatencyTarget(
        name="health_check",
        target_ms=RESPONSE_TIME_TARGET_MS,
        p90_ms=overall.p90_ms,
        missed=response.health_target_missed,
    )
    targets = [health, *extra_targets]
    missed = sum(1 for target in targets if target.missed)
    if overall.samples == 0:
        colour = Colour.GREY
    else:
        colour = (Colour.GREEN, Colour.YELLOW)[missed] if missed < 2 else Colour.RED
    return ResponseTimeOut(
        **overall.model_dump(),  # median_ms, p90_ms, p99_ms, samples
        by_check=response.by_check,
        target_ms=RESPONSE_TIME_TARGET_MS,
        targets=targets,
        targets_missed=missed,
        status=colour,
        window=window.out(),
    )


def _channels_meta(
    channels: Sequence[ChannelOut], window: Window, artifacts: Sequence[ArtifactCore]
) -> ChannelsMeta:
    if channels:
        return ChannelsMeta(window=window.out(), data="ok")
    return ChannelsMeta(
        window=window.out(), data="no_data", note=_no_channel_data_reason(artifacts)
    )


def _no_channel_data_reason(artifacts: Sequence[ArtifactCore]) -> str:
    for artifact in reversed(artifacts):
        check = artifact.check("inbox_activity")
        if check is not None and check.skipped and check.skip_reason:
            return f"no per-inbox data: {check.skip_reason} (use an administrator's token)"
    return "no per-inbox activity recorded in this window"


def _artifacts_out(found: ArtifactSet, directory: Path) -> ArtifactsOut:
    return ArtifactsOut(
        read=found.read,
        skipped=len(found.skipped),
        skipped_files=[SkippedFile(file=s.path.name, reason=s.reason) for s in found.skipped],
        directory=str(directory),
    )


def _alerts(
    options: ReportOptions,
    windows: SectionWindows,
    artifacts: Sequence[ArtifactCore],
    in_window: Sequence[ArtifactCore],
    uptime: UptimeOut,
    channels: Sequence[ChannelOut],
    sections: ExtraSections,
    location: str = "",
) -> list[Alert]:
    """Every rule of the catalogue over this report's data (:func:`alerts.evaluate`, which
    ``check`` uses too); critical first, then by name."""
    active, _judged = alerts.evaluate(
        alerts.Evidence(
            options.now,
            artifacts,
            interval=options.interval,
            down_after=options.down_after,
            in_window=in_window,
            channels=(channels, windows.channels),
            uptime=(uptime, windows.uptime),
            sla=None if sections.sla is None else (sections.sla, windows.sla),
            min_uptime=options.min_uptime,
            queue=sections.queue,
            unavailable=sections.unavailable,
            location=location,
        )
    )
    return active


def timeline(
    artifacts: Sequence[ArtifactCore], window: Window, interval: timedelta
) -> list[TimelineBucket]:
    """Hourly bars up to 7 days, daily beyond: up, down and the runs expected, and each bar's
    percentiles, from the runs (the store's own: ``StoredWindow.timeline``)."""
    return timeline_of(window, interval, *bars_of(artifacts, window))
