"""Build the report: read the artifacts of the window once, compute each section with the metric
functions (which return the output models), raise the alerts, and return the report and its exit
code. Pure orchestration with the report's single ``now``: no Click, no printing, no ``sys.exit``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from chatwoot_health import __version__, alerts
from chatwoot_health.alerts import alert_text, worst_severity
from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.artifacts.store import ArtifactDirectory, ArtifactSet, read_window
from chatwoot_health.metrics.agents import agent_status
from chatwoot_health.metrics.approvals import ReviewQueue
from chatwoot_health.metrics.channels import channel_horizon, compute_channels
from chatwoot_health.metrics.conversations import latest_conversations
from chatwoot_health.metrics.latency import ResponseTime, compute_response_time
from chatwoot_health.metrics.percentiles import percentile
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

if TYPE_CHECKING:
    from chatwoot_health.report.stored import StoredWindow

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
_checked_at = attrgetter("checked_at")
_LIVENESS = attrgetter("liveness")
_LATENCIES = attrgetter("latencies")
_DURATION = itemgetter(1)


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


def _reach(windows: SectionWindows, now: datetime) -> tuple[datetime, datetime]:
    """How far back the report reads, and from when with the per-inbox data."""
    earliest = min(windows.uptime.start, windows.channels.start, windows.sla.start)
    # Only the channel section reads per-inbox data, and only this far back (it looks for
    # silence over at least a week); the alert rules look back an hour at most.
    detail_since = channel_horizon(windows.channels, now) - HOUR
    return min(earliest, now - HOUR, detail_since), detail_since


def load(options: ReportOptions, listing: ArtifactDirectory) -> tuple[ArtifactSet, SectionWindows]:
    windows = section_windows(options)
    earliest, detail_since = _reach(windows, options.now)
    found = read_window(listing, earliest, options.now, detail_since=detail_since)
    return found, windows


def _load_store(options: ReportOptions, dsn: str) -> tuple[StoredWindow | None, str | None]:
    """The window's runs from the store, or (None, one warning line) when it cannot be read."""
    from chatwoot_health.report.stored import read_store
    from chatwoot_health.store.db import StoreError

    windows = section_windows(options)
    earliest, detail_since = _reach(windows, options.now)
    try:
        # the files' window is [start - 1 s, end]; the store's (start, end]
        read = read_store(
            dsn, earliest - SECOND, options.now, detail_since, windows.uptime, options.interval,
            pool=options.store_pool,
        )  # fmt: skip
        return read, None
    except StoreError as exc:
        return None, f"{exc}; reporting from the local files in {options.artifacts_dir}"


def build_report(options: ReportOptions, extra: SectionProvider | None = None) -> ReportOutcome:
    """Compute the report. Raises :class:`NoData` when the window holds no artifact."""
    listing = ArtifactDirectory(options.artifacts_dir)
    stored, warning = (None, None) if options.store is None else _load_store(options, options.store)
    if stored is not None:
        found, windows = stored.found(), section_windows(options)
        first_time = stored.first_run_at
    else:
        found, windows = load(options, listing)
        first_time = listing.first_time()
    artifacts = found.artifacts
    in_window = windows.uptime.select(artifacts)
    if not in_window:
        if stored is not None and options.store is not None:
            raise _no_stored_data(options.store, windows.uptime)
        raise _no_data(options, listing, windows.uptime)
    now = options.now
    monitoring_since = monitoring_start(first_time, artifacts)
    uptime = compute_uptime(artifacts, windows.uptime, options.interval, monitoring_since)
    locations = None
    if stored is not None:  # counted in SQL; several locations: the quorum's slots (issue #14)
        uptime = stored.uptime(uptime, options.location)
        locations = stored.locations(options.location) if stored.several else None
    target_minutes = options.sla_target.total_seconds() / 60
    if stored is None:
        channels = compute_channels(
            artifacts, windows.channels, now, options.calendar, target_minutes
        )
    else:  # the buckets merged in SQL
        channels = stored.channels(windows.channels, now, options.calendar, target_minutes)
    sections = extra(artifacts, windows) if extra is not None else ExtraSections()
    here = options.location if stored is not None else ""  # the files: exactly as before
    active = _alerts(options, windows, artifacts, in_window, uptime, channels, sections, here)
    state = worst_severity(active)
    report = Report(
        generated_at=now,
        instance=artifacts[-1].instance,
        window=windows.uptime.out(),
        status=state,
        exit_code=int(state.exit_code),
        uptime=uptime,
        response_time=_response_time(
            artifacts,
            windows.uptime,
            sections.latency_targets,
            None if stored is None else stored.response_time(),
        ),
        conversations=latest_conversations(in_window, now),
        channels=channels,
        channels_meta=_channels_meta(channels, windows.channels, in_window),
        agents=agent_status(in_window),
        sla=sections.sla,
        approvals=sections.approvals,
        alerts=[AlertOut(**dict(a), text=alert_text(a, now)) for a in active],
        timeline=timeline(artifacts, windows.uptime, options.interval, stored),
        artifacts=_artifacts_out(found, options.artifacts_dir),
        tool_version=__version__,
        locations=locations,
    )
    skipped = [f"skipped {item.path.name}: {item.reason}" for item in found.skipped]
    if warning is not None:
        skipped.insert(0, warning)
    return ReportOutcome(report, state.exit_code, skipped, (found, listing))


def _no_stored_data(dsn: str, window: Window) -> NoData:
    from chatwoot_health.store.db import describe

    return NoData(
        f"no runs between {iso(window.start)} and {iso(window.end)} in the store "
        f"{describe(dsn)}: is cron running `chatwoot-health check` with CHATWOOT_HEALTH_STORE?"
    )


def _no_data(options: ReportOptions, listing: ArtifactDirectory, window: Window) -> NoData:
    where = options.artifacts_dir
    if listing.first_time() is None:
        return NoData(
            f"no artifacts in {where}: run `chatwoot-health check` first "
            "(or `chatwoot-health demo` to see a sample)"
        )
    return NoData(
        f"no artifacts between {iso(window.start)} and {iso(window.end)} in {where}: is cron "
        "running `chatwoot-health check`?"
    )


# ------------------------------------------------------------------------------------ sections


def _response_time(
    artifacts: Sequence[ArtifactCore],
    window: Window,
    extra_targets: Sequence[LatencyTarget],
    response: ResponseTime | None = None,
) -> ResponseTimeOut:
    """The health checks' percentiles (``response``: the store's), judged with the other latency
    targets (Supabase): green when none is missed, yellow for one, red for more."""
    response = response or compute_response_time(artifacts, window)
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
        alerts.evidence(
            options.now,
            artifacts,
            interval=options.interval,
            down_after=options.down_after,
            in_window=in_window,
            channels=(channels, windows.channels),
            uptime=(uptime, windows.uptime),
            sla=(sections.sla, windows.sla),
            min_uptime=options.min_uptime,
            queue=sections.queue,
            unavailable=sections.unavailable,
            location=location,
        )
    )
    return active


def timeline(
    artifacts: Sequence[ArtifactCore],
    window: Window,
    interval: timedelta,
    stored: StoredWindow | None = None,
) -> list[TimelineBucket]:
    """Hourly bars up to 7 days, daily bars beyond: up, down and the runs expected. ``stored``:
    the store's bars (with several locations, the quorum's slots) and percentiles."""
    step = HOUR if window.length <= timedelta(days=7) else timedelta(days=1)
    count = max(1, int(-(-window.length // step)))
    up, down = [0] * count, [0] * count
    durations: list[list[float]] = [[] for _ in range(count)]
    selected = window.select(artifacts) if stored is None else ()
    # The runs are oldest first: each bar's runs are one slice, cut where the next bar starts (a
    # run exactly there is the next bar's; the last bar takes the rest), with no arithmetic of
    # times per run.
    cuts = [
        bisect_left(selected, window.start + step * index, key=_checked_at)
        for index in range(1, count)
    ]
    for index, (low, high) in enumerate(zip([0, *cuts], [*cuts, len(selected)], strict=True)):
        bar = selected[low:high]
        states = list(map(_LIVENESS, bar))
        up[index], down[index] = states.count("up"), states.count("down")
        durations[index] = list(map(_DURATION, chain.from_iterable(map(_LATENCIES, bar))))
    if stored is not None:
        up, down = (list(counts) for counts in zip(*stored.bars(), strict=True))
        figures = stored.bar_percentiles()
    result = []
    for index in range(count):
        start = window.start + step * index
        end = min(start + step, window.end)
        values = sorted(durations[index])
        median, p90 = percentile(values, 50), percentile(values, 90)
        if stored is not None:
            median, p90 = figures[index]
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
