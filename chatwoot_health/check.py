"""``check``: run the probes, judge the run, write the artifact, return an exit code — and,
with :class:`Alerting`, confirm an outage and notify.

The flow is probe → measurement (:class:`CheckResult`) → rule (:func:`judge`) → result (the
artifact's ``status``) → exit code. No Click here and no ``sys.exit``.

Alerting (issue #10): a failed liveness probe is re-probed every ``retry_interval`` until it
answers or has failed for ``down_after`` (:class:`~chatwoot_health.probes.chatwoot.Confirmation`),
so ``service_down`` starts in the run that sees it hold. After writing its artifact, the run
judges the alert rules over the recent history — :func:`chatwoot_health.alerts.evaluate`, the
code ``report`` uses — and hands the result to :func:`chatwoot_health.notify.notify` (state,
outbox, delivery). A healthy run costs no extra request, and judging its history well under
50 ms over 30 days of artifacts (``benchmarks/bench_alert_latency.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx

from chatwoot_health import __version__
from chatwoot_health.artifacts.store import (
    ArtifactDirectory,
    ArtifactWriteError,
    DirectoryError,
    index_written,
    write_artifact,
)
from chatwoot_health.models.artifact import Artifact, CheckResult, RunStatus
from chatwoot_health.probes.chatwoot import Confirmation, ProbeData, ProbeSettings, run_probes
from chatwoot_health.state import RUN_STATES, ExitCode, State
from chatwoot_health.thresholds import SERVICE_DOWN_AFTER
from chatwoot_health.timeutil import as_written

if TYPE_CHECKING:
    from chatwoot_health.artifacts.fast import ArtifactCore
    from chatwoot_health.artifacts.recent import ChannelDigest
    from chatwoot_health.metrics.business_hours import BusinessCalendar
    from chatwoot_health.models.alert import Alert
    from chatwoot_health.notify.channels import Channel
    from chatwoot_health.notify.engine import NotifyOutcome
    from chatwoot_health.notify.state_pg import PgNotifyStore
    from chatwoot_health.render.check import CheckView
    from chatwoot_health.store.send import Connection, Peers


@dataclass(frozen=True)
class Alerting:
    """``check``'s alert step: where messages go and what the rules need beyond the artifacts.

    Without channels the step is skipped on a healthy run (nothing to say, nothing to read);
    with them, every run records its alerts in the state database and delivers what changed.
    """

    channels: tuple[Channel, ...] = ()
    #: How often cron runs ``check`` (stale_data, and the uptime banners' expected runs).
    interval: timedelta = timedelta(minutes=5)
    calendar: BusinessCalendar | None = None  # channel_outage's business hours; None: default
    sla_target: timedelta | None = None
    push_banners: bool = False
    state_path: Path | None = None  # None: beside the artifacts
    #: Supabase is configured: the approval queue is evidence of ``high_queue`` that only
    #: ``report`` reads, so ``check`` never clears that alert (nor judges ``sla_breach``).
    supabase: bool = False

    @property
    def pushed(self) -> frozenset[str]:
        from chatwoot_health.alerts import PROACTIVE, PUSHABLE_BANNERS

        return PROACTIVE | (PUSHABLE_BANNERS if self.push_banners else frozenset())


@dataclass(frozen=True)
class CheckOptions:
    probes: ProbeSettings
    artifacts_dir: Path
    write: bool = True
    #: Confirm a failed liveness probe by re-probing every this many seconds (None: one probe).
    retry_interval: float | None = None
    #: service_down's threshold (CHATWOOT_HEALTH_DOWN_AFTER): how long the confirmation lasts.
    down_after: timedelta = SERVICE_DOWN_AFTER
    #: Judge the alerts after the run and notify (None: the run only writes its artifact).
    alerting: Alerting | None = None
    #: This probe host's name, recorded in the artifact (CHATWOOT_HEALTH_LOCATION).
    location: str | None = None
    #: The shared store's postgresql:// URL (CHATWOOT_HEALTH_STORE); None: files only.
    store: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    artifact: Artifact
    exit_code: ExitCode
    path: Path | None = None
    write_error: str | None = None
    auth_rejected: bool = False
    #: The alerts active after this run, as far as ``check`` judges them (None: not judged).
    alerts: list[Alert] | None = None
    #: What the notification step did (None: it did not run).
    notified: NotifyOutcome | None = None
    #: One line each: an alert step that could not run.
    problems: list[str] = field(default_factory=list)


def judge(checks: list[CheckResult]) -> RunStatus:
    """down: liveness failed; unknown: no liveness path; degraded: anything else failed."""
    liveness = next((check for check in checks if check.name == "rails_health"), None)
    if liveness is not None and liveness.state == "no_path":
        return RunStatus.UNKNOWN
    if liveness is not None and liveness.ok is False:
        return RunStatus.DOWN
    if any(check.ok is False for check in checks if not check.skipped):
        return RunStatus.DEGRADED
    return RunStatus.OK


def exit_code_for(status: RunStatus, auth_rejected: bool) -> ExitCode:
    """The run's state as an exit code; a rejected token or account is CRITICAL (unless the
    run could not be judged at all)."""
    state = RUN_STATES[status]
    if auth_rejected and status is not RunStatus.UNKNOWN:
        state = State.CRITICAL
    return state.exit_code


def build_artifact(
    data: ProbeData,
    settings: ProbeSettings,
    now: datetime,
    duration_ms: float,
    location: str | None = None,
) -> Artifact:
    """The run's artifact (``reprobes`` only when the first liveness probe failed)."""
    return Artifact(
        checked_at=now,
        status=judge(data.checks),
        instance=settings.base_url,
        account_id=settings.account_id,
        duration_ms=duration_ms,
        checks=data.checks,
        profile=data.profile,
        conversations=data.conversations,
        inboxes=data.inboxes,
        agents=data.agents,
        inbox_activity=data.inbox_activity,
        tool_version=__version__,
        reprobes=data.reprobes,
        location=location,
    )


def run_check(
    options: CheckOptions,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> CheckOutcome:
    """Probe (confirming a failed liveness probe), judge, write the artifact, notify.

    ``transport``, ``clock`` and ``sleep`` are seams for tests; the CLI never sets them (see
    :func:`~chatwoot_health.probes.chatwoot.run_probes`)."""
    started = time.perf_counter()
    confirmation = _confirmation(options, now, clock, sleep)
    data = asyncio.run(run_probes(options.probes, now, transport, confirmation))
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    artifact = build_artifact(data, options.probes, now, duration_ms, options.location)
    code = exit_code_for(artifact.status, data.auth_rejected)
    if not options.write:
        return CheckOutcome(artifact, code, auth_rejected=data.auth_rejected)
    try:
        path: Path | None = write_artifact(options.artifacts_dir, artifact)
    except ArtifactWriteError as exc:
        # The run's result is lost: UNKNOWN — unless Chatwoot is down, which must still page.
        lost = code if code is ExitCode.CRITICAL else ExitCode.UNKNOWN
        outcome = CheckOutcome(
            artifact, lost, write_error=str(exc), auth_rejected=data.auth_rejected
        )
    else:
        assert path is not None
        index_written(options.artifacts_dir, path)  # the next report reads it from the index
        outcome = CheckOutcome(artifact, code, path=path, auth_rejected=data.auth_rejected)
    if options.store is None:
        if options.alerting is not None:
            outcome = alert_step(options, options.alerting, outcome, clock)
        return outcome
    from chatwoot_health.store.send import send_run

    sent = send_run(options.store, options.artifacts_dir, outcome.path, artifact, options.location)
    try:
        outcome = replace(outcome, problems=outcome.problems + sent.problems)
        if options.alerting is not None:
            outcome = alert_step(options, options.alerting, outcome, clock, sent.connection)
    finally:
        if sent.connection is not None:
            sent.connection.close()
    return outcome


# ------------------------------------------------------------------------------ confirmation


def _confirmation(
    options: CheckOptions,
    now: datetime,
    clock: Callable[[], datetime] | None,
    sleep: Callable[[float], Awaitable[None]] | None,
) -> Confirmation | None:
    if options.retry_interval is None:
        return None
    seams: dict[str, Callable[..., object]] = {}
    if clock is not None:
        seams["clock"] = clock
    if sleep is not None:
        seams["sleep"] = sleep
    return Confirmation(
        retry_interval=options.retry_interval,
        down_after=options.down_after.total_seconds(),
        streak_since=lambda: streak_since(options.artifacts_dir, now, options.down_after),
        **seams,  # type: ignore[arg-type]
    )


def streak_since(directory: Path, now: datetime, down_after: timedelta) -> datetime | None:
    """When the current streak of liveness failures began in earlier runs (their first failed
    probe), or None when the latest judged run was up. Read only once a probe has failed, and
    only as far back as matters: a streak older than ``down_after`` is confirmed either way."""
    from chatwoot_health.alerts import failure_streak
    from chatwoot_health.artifacts.store import read_window

    try:
        found = read_window(directory, now - down_after - timedelta(hours=1), now, index=False)
    except DirectoryError:
        return None
    streak = failure_streak(found.artifacts)
    return streak.spans[-1].first if streak is not None else None


# ------------------------------------------------------------------------------ alerts


def alert_step(
    options: CheckOptions,
    alerting: Alerting,
    outcome: CheckOutcome,
    clock: Callable[[], datetime] | None = None,
    store: Connection | None = None,
) -> CheckOutcome:
    """Judge the alerts over the recent history and notify. A healthy run without channels
    skips it; any trouble is a line in ``problems`` (the exit code stays the run's own)."""
    artifact = outcome.artifact
    if not alerting.channels and outcome.exit_code is ExitCode.OK:
        return outcome
    now = artifact.checked_at
    # One listing for the run (the short read, the full read and the rebuilt state's read): a
    # directory that cannot be listed is said by each read, its own way.
    directory: Path | ArtifactDirectory = options.artifacts_dir
    with contextlib.suppress(DirectoryError):
        directory = ArtifactDirectory(options.artifacts_dir)

    def full_read() -> tuple[list[ArtifactCore], datetime | None]:
        return recent_runs(directory, now, alerting, artifact, outcome.path)

    try:
        recent = recent_digest(options, alerting, artifact, outcome.path, directory)
        # The short read never judges the banners (30 days of uptime), so when monitoring began
        # is not needed then; the full read says it.
        runs, first = (recent.runs, None) if recent is not None else full_read()
    except ValueError as exc:  # the artifacts directory cannot be read: one line
        return replace(outcome, problems=[f"alerts not evaluated: {exc}"])
    peers: Peers | None = None
    if store is not None:
        from chatwoot_health.store.send import read_peers

        try:
            peers = read_peers(store, options.store or "", artifact, options.location or "", now)
        except ValueError as exc:  # the store took the write but not this: one line
            outcome = replace(outcome, problems=[*outcome.problems, str(exc)])
    if recent is not None and not recent.suffices(peers, now):
        recent = None  # the rules may look further back than the short read: read it all
        try:
            runs, first = full_read()
        except ValueError as exc:
            return replace(outcome, problems=[f"alerts not evaluated: {exc}"])
    digest = recent.digest if recent is not None else None
    active, judged = judge_alerts(runs, now, options.down_after, alerting, first, peers, digest)
    outcome = _by_quorum(outcome, active, peers)
    if not alerting.channels:
        return replace(outcome, alerts=active)
    from chatwoot_health.notify.engine import default_state_path, notify

    def previous_alerts() -> Sequence[Alert]:  # a new state database: rebuilt from the files
        every = runs if recent is None else full_read()[0]
        # Runs are stored to the millisecond: this run, read back, is not earlier than itself.
        stored = as_written(now)
        earlier = [run for run in every if run.checked_at < stored]
        if not earlier:
            return []
        moment = earlier[-1].checked_at
        return judge_alerts(earlier, moment, options.down_after, alerting, first)[0]

    notified = notify(
        _shared_state(store, artifact.instance)
        or alerting.state_path
        or default_state_path(options.artifacts_dir),
        active,
        now,
        artifact.instance,
        alerting.channels,
        alerting.pushed,
        previous_alerts=previous_alerts,
        clock=clock,
        judged=judged,
    )
    return replace(outcome, alerts=active, notified=notified)


def _shared_state(store: Connection | None, instance: str) -> PgNotifyStore | None:
    """With a store, the alert state every probe host shares (one message per episode)."""
    if store is None:
        return None
    from chatwoot_health.notify.state_pg import PgNotifyStore

    return PgNotifyStore(store, instance)


def _by_quorum(outcome: CheckOutcome, active: Sequence[Alert], peers: Peers | None) -> CheckOutcome:
    """The run's exit code as the quorum of locations allows
    (:func:`chatwoot_health.alerts.quorum_exit_code`), with the line that says why."""
    from chatwoot_health import alerts

    last_seen = peers.last_seen if peers is not None else None
    code = alerts.quorum_exit_code(
        outcome.exit_code, outcome.artifact.liveness, outcome.auth_rejected, active, last_seen
    )
    if code is outcome.exit_code:
        return outcome
    return replace(outcome, exit_code=code, problems=[*outcome.problems, alerts.NOT_A_QUORUM])


def recent_runs(
    directory: Path | ArtifactDirectory,
    now: datetime,
    alerting: Alerting,
    current: Artifact,
    written: Path | None,
) -> tuple[list[ArtifactCore], datetime | None]:
    """The runs the pushed rules need, oldest first, ending with this one — the channel horizon
    (a week and an hour, per-inbox data included), 30 days with the banners — and when
    monitoring began (the oldest artifact's name)."""
    from chatwoot_health.artifacts.store import read_window
    from chatwoot_health.report.options import DEFAULT_UPTIME_WINDOW

    detail_since = _detail_since(now)
    start = now - DEFAULT_UPTIME_WINDOW if alerting.push_banners else detail_since
    try:
        listing = _listing(directory)
        # The run index (artifacts/index.py) shares the state database's file: used when
        # notifications keep that file anyway; a check without channels leaves no database.
        found = read_window(
            listing,
            min(start, detail_since),
            now,
            detail_since=detail_since,
            index=bool(alerting.channels),
        )
    except DirectoryError as exc:
        if written is not None:
            raise ValueError(str(exc)) from None
        return [current], None  # nowhere to read from: this run alone
    runs: list[ArtifactCore] = list(found.artifacts)
    if written is None:  # not written: judged from memory, as it would have been read
        runs = [run for run in runs if run.checked_at < current.checked_at] + [current]
    return runs, listing.first_time()


def _listing(directory: Path | ArtifactDirectory) -> ArtifactDirectory:
    """The listing the run already made of the artifacts directory, or a new one (raises
    DirectoryError: see :func:`alert_step`)."""
    return directory if isinstance(directory, ArtifactDirectory) else ArtifactDirectory(directory)


def _detail_since(now: datetime) -> datetime:
    """Where the runs' per-inbox buckets are read from: the channels' horizon, and an hour more
    (each run carries the previous hour's bucket too)."""
    from chatwoot_health.metrics.channels import channel_horizon
    from chatwoot_health.metrics.window import Window
    from chatwoot_health.report.options import DEFAULT_CHANNEL_WINDOW

    return channel_horizon(Window.ending(now, DEFAULT_CHANNEL_WINDOW), now) - timedelta(hours=1)


@dataclass(frozen=True)
class Recent:
    """The short read of :func:`recent_digest`: the last few hours of runs, and the channels'
    week as a digest."""

    runs: list[ArtifactCore]
    digest: ChannelDigest
    #: Where the short read begins.
    start: datetime

    def suffices(self, peers: Peers | None, now: datetime) -> bool:
        """Whether every rule ``check`` judges sees in the short read what it would see in the
        week. A rule walks back from the latest run to the run that breaks its streak (liveness,
        the queue); a healthy run — liveness up to the end, counts at or below the queue's
        threshold — breaks all of them, so one such run of each location inside the short read
        bounds every walk back. Anything else (an outage or a high queue under way, a location
        only older runs have, runs without counts) is read in full."""
        from chatwoot_health.quorum import by_location, location_of
        from chatwoot_health.thresholds import AGENT_OFFLINE_RUNS, HIGH_QUEUE_PENDING

        runs = self.runs
        if len(runs) < AGENT_OFFLINE_RUNS:
            return False
        if self.digest.locations != {run.location for run in runs}:
            return False  # a location seen in the week but not lately: its silence counts
        judged_runs = runs if peers is None else peers.merged(runs)
        spans = (run.failure_span for run in judged_runs)
        if any(span.first < self.start for span in spans if span is not None):
            return False
        default = peers.location if peers is not None else ""
        groups = by_location(judged_runs, default)
        for name in {location_of(run, default) for run in runs}:
            if not any(
                run.liveness == "up"
                and run.failure_span is None
                and run.conversations is not None
                and run.conversations.pending <= HIGH_QUEUE_PENDING
                and run.checked_at <= now
                for run in groups[name]
            ):
                return False
        return True


def recent_digest(
    options: CheckOptions,
    alerting: Alerting,
    current: Artifact,
    written: Path | None,
    listed: Path | ArtifactDirectory | None = None,
) -> Recent | None:
    """The fast path of :func:`recent_runs`: the runs of the last few hours (on a healthy run
    no rule but the channels' looks further back) and the channels' week as the digest kept
    beside the artifacts (:mod:`chatwoot_health.artifacts.recent`), brought up to date with
    this run. None when it cannot stand for the full read — the banners judged (30 days of
    uptime), the run not written, no channel (no database kept), no usable digest; the caller
    still asks :meth:`Recent.suffices` once the other locations' runs are known. ``listed``:
    the directory's listing, when the caller has it."""
    if alerting.push_banners or written is None or not alerting.channels:
        return None
    from chatwoot_health.artifacts.recent import channel_digest
    from chatwoot_health.artifacts.store import read_window
    from chatwoot_health.notify.engine import default_state_path
    from chatwoot_health.thresholds import HIGH_QUEUE_FOR, LOCATION_KNOWN_INTERVALS

    hour = timedelta(hours=1)
    now = current.checked_at
    detail_since = _detail_since(now)
    # How far back the rules look on a healthy run: service_down's threshold, the queue's 30
    # minutes, a location's known period, slow_response's hour, the store's hour of the other
    # locations' runs; and an hour more, for the healthy run that bounds every streak.
    reach = max(
        options.down_after, HIGH_QUEUE_FOR, alerting.interval * LOCATION_KNOWN_INTERVALS, hour
    )
    start = max(now - reach - hour, detail_since)
    try:
        listing = _listing(listed or options.artifacts_dir)
    except DirectoryError as exc:
        raise ValueError(str(exc)) from None
    digest = channel_digest(listing, default_state_path(options.artifacts_dir), detail_since, now)
    if digest is None:
        return None
    # The buckets are the digest's: the runs are read without them, through the run index.
    found = read_window(listing, start, now, detail_since=now + hour, index=True)
    # When monitoring began counts for the banners' uptime only: not judged here.
    return Recent(list(found.artifacts), digest, start)


def judge_alerts(
    runs: Sequence[ArtifactCore],
    now: datetime,
    down_after: timedelta,
    alerting: Alerting,
    first: datetime | None = None,
    peers: Peers | None = None,
    digest: ChannelDigest | None = None,
) -> tuple[list[Alert], frozenset[str]]:
    """:func:`chatwoot_health.alerts.evaluate` over ``runs`` with the sections ``check``
    computes: the channels always (channel_outage is pushed), uptime with the banners. The
    channels come from ``digest`` when given (:func:`recent_digest`), else from ``runs``."""
    from chatwoot_health import alerts
    from chatwoot_health.metrics.business_hours import BusinessCalendar
    from chatwoot_health.metrics.channels import channels_of, compute_channels
    from chatwoot_health.metrics.uptime import compute_uptime, monitoring_start
    from chatwoot_health.report.options import windows_ending
    from chatwoot_health.thresholds import DEFAULT_TIMEZONE, RESPONSE_TARGET

    calendar = alerting.calendar or BusinessCalendar(tz=ZoneInfo(DEFAULT_TIMEZONE))
    target = (alerting.sla_target or RESPONSE_TARGET).total_seconds() / 60
    windows = windows_ending(now)
    if digest is None:
        channels = compute_channels(runs, windows.channels, now, calendar, target)
    else:
        until = digest.observed_until or now
        channels = channels_of(digest.buckets, until, windows.channels, now, calendar, target)
    uptime = None
    if alerting.push_banners:
        since = monitoring_start(first, runs)
        uptime = compute_uptime(runs, windows.uptime, alerting.interval, since), windows.uptime
    evidence = alerts.Evidence(
        now,
        runs if peers is None else peers.merged(runs),
        interval=alerting.interval,
        down_after=down_after,
        channels=(channels, windows.channels),
        uptime=uptime,
        location=peers.location if peers is not None else "",
        last_seen=peers.last_seen if peers is not None else None,
        probe_host=peers is not None,  # it never starts the quorum's outage (alerts._own_view)
    )
    active, judged = alerts.evaluate(evidence)
    if alerting.supabase and not any(alert.name == "high_queue" for alert in active):
        judged -= {"high_queue"}  # the approval queue may hold it: report's to clear
    return active, judged


def check_view(outcome: CheckOutcome, options: CheckOptions) -> CheckView:
    """What the outputs show of ``outcome``: the run, its state, and the outage's story."""
    from chatwoot_health.render.check import CheckView

    probes = options.probes
    down = next(
        (a for a in outcome.alerts or () if a.name in ("service_down", "health_check_failed")),
        None,
    )
    span = outcome.artifact.failure_span
    notified = outcome.notified
    pushed = _pushed(options)
    # "notified" is what reached someone (a start decided now or retried from the outbox);
    # a start no channel took yet says so, so cron's mail never claims a page that failed.
    sent = {alert for alert, kind in notified.sent if kind == "start"} if notified else set()
    started = [n for n in notified.started if n in pushed] if notified else []
    return CheckView(
        artifact=outcome.artifact,
        state=State(outcome.exit_code.name.lower()),
        rejected=outcome.auth_rejected,
        write_error=outcome.write_error,
        timeout_ms=probes.timeout * 1000,
        agent_slow_ms=probes.agent_slow * 1000,
        agent_timeout_ms=probes.agent_timeout * 1000,
        down_since=down.since if down is not None else (span.first if span else None),
        confirmed=down is not None and down.name == "service_down",
        notified=tuple(sorted(sent)),
        pending=tuple(n for n in started if n not in sent),
        resolved=tuple(notified.resolved) if notified else (),
    )


def _pushed(options: CheckOptions) -> frozenset[str]:
    return options.alerting.pushed if options.alerting is not None else frozenset()
