"""The alert catalogue and its rules: every alert's name, severity, title, action and whether it
is pushed to people, and the one rule that raises it, in one place.

Each rule is a pure function of the data it judges (the artifact history oldest first, the
report's sections, the Supabase evidence) and ``now``; it returns an :class:`Alert` or None. The
alerts that judge a moment need persistence (two runs, two minutes, thirty minutes of evidence),
so a single blip never raises ``service_down``, ``high_queue`` or ``agent_offline``; the window
rules (uptime, coverage, SLA) judge the whole window, where one failed run does count.

*Pushed* alerts are the spec's proactive ones: ``report --notify`` sends them to people. The
others are *banner* conditions: on the dashboard, in the alert list and in the exit code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, timedelta

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.approvals import ReviewQueue
from chatwoot_health.metrics.latency import successful_durations
from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.alert import Alert, Criterion, Severity
from chatwoot_health.models.base import FailureSpan, Liveness
from chatwoot_health.models.report import ChannelOut, SlaOut, UptimeOut
from chatwoot_health.quorum import Vote, by_location, is_majority, votes
from chatwoot_health.state import ExitCode, State, worst
from chatwoot_health.thresholds import (
    AGENT_OFFLINE_RUNS,
    CHANNEL_OUTAGE_AFTER,
    HIGH_QUEUE_FOR,
    HIGH_QUEUE_PENDING,
    LOCATION_KNOWN_INTERVALS,
    MIN_COVERAGE_PERCENT,
    RESPONSE_TIME_TARGET_MS,
    SERVICE_DOWN_AFTER,
    SERVICE_DOWN_RUNS,
    SLA_YELLOW_PERCENT,
    SLOW_CHANNEL_MINUTES,
    STALE_AFTER_INTERVALS,
    UPTIME_TARGET_PERCENT,
)
from chatwoot_health.timeutil import format_duration, humanize_age, iso


@dataclass(frozen=True)
class AlertSpec:
    """One entry of the catalogue. ``action`` may name ``{placeholders}`` its rule fills in."""

    name: str
    severity: Severity
    title: str
    action: str
    pushed: bool


_W, _C = Severity.WARNING, Severity.CRITICAL
CATALOGUE: dict[str, AlertSpec] = {
    spec.name: spec
    for spec in (
        AlertSpec(
            "service_down", _C, "Service Down", "Verify the Chatwoot instance at {host}", True
        ),
        AlertSpec(
            "health_check_failed",
            _W,
            "Health Check Failed",
            "Verify the Chatwoot instance at {host}",
            False,  # the first failure; pushed once it holds, as service_down
        ),
        AlertSpec(
            "high_queue", _W, "High Queue", "Add reviewers or triage the {queue} queue", True
        ),
        AlertSpec(
            "slow_response",
            _W,
            "Slow Response",
            "Check Chatwoot's load, database and network latency",
            True,
        ),
        AlertSpec(
            "uptime_below_target",
            _W,  # critical below --min-uptime
            "Uptime Below Target",
            "Review the outages in this window",
            False,
        ),
        AlertSpec(
            "monitoring_gap",
            _W,
            "Monitoring Gap",
            "Check the cron job that runs `chatwoot-health check` (see crontab.example)",
            False,
        ),
        AlertSpec(
            "stale_data",
            _W,
            "Stale Data",
            "Check that cron still runs `chatwoot-health check`",
            False,
        ),
        AlertSpec(
            "agent_offline",
            _W,
            "AI Agent Offline",
            "Check the AI agent service (AGENT_HEALTH_URL)",
            True,
        ),
        AlertSpec(
            "channel_outage",
            _W,
            "Possible Channel Outage",
            "Check the channel's inbox connection in Chatwoot (Settings → Inboxes)",
            True,
        ),
        AlertSpec(
            "channel_slow_response",
            _W,
            "Slow Channel Response",
            "Rebalance agents towards these channels",
            False,
        ),
        AlertSpec(
            "sla_breach",
            _C,
            "SLA Breach",
            "Review the breach details and add reviewers during business hours",
            True,
        ),
        AlertSpec(
            "location_degraded",
            _W,
            "Probe Location Degraded",
            "Check the network, proxy and DNS of the probe host at {locations}",
            True,
        ),
        AlertSpec(
            "probe_host_silent",
            _W,
            "Probe Host Silent",
            "Check that cron still runs `chatwoot-health check` on {locations}",
            True,
        ),
        AlertSpec(
            "supabase_unavailable",
            _W,
            "Supabase Unavailable",
            "Check SUPABASE_URL, SUPABASE_KEY and the tables (supabase/migrations/)",
            False,
        ),
    )
}

#: The spec's proactive alerts: pushed to people by default.
PROACTIVE: frozenset[str] = frozenset(name for name, spec in CATALOGUE.items() if spec.pushed)
#: Banner conditions: on the dashboard and in the exit code; pushed only if a setting asks.
BANNER: frozenset[str] = frozenset(CATALOGUE) - PROACTIVE
#: The banners CHATWOOT_HEALTH_PUSH_BANNERS pushes too (the others stay on the dashboard).
PUSHABLE_BANNERS = frozenset({"uptime_below_target", "monitoring_gap", "stale_data"})
#: A warning whose condition, persisting, becomes a critical alert of another name.
ESCALATES_TO = {"health_check_failed": "service_down", "location_degraded": "service_down"}


def raise_alert(
    name: str,
    message: str,
    since: datetime | None,
    *,
    last_success: datetime | None = None,
    severity: Severity | None = None,
    action_suffix: str = "",
    criterion: Criterion | None = None,
    **action_details: str,
) -> Alert:
    """The one builder: the catalogue's entry for ``name`` with this occurrence's message."""
    spec = CATALOGUE[name]
    return Alert(
        name=name,
        severity=severity or spec.severity,
        title=spec.title,
        message=message,
        since=since,
        action=spec.action.format(**action_details) + action_suffix,
        last_success=last_success,
        criterion=criterion,
    )


# --------------------------------------------------------------------------- rules

HOUR = timedelta(hours=1)


def _host(instance: str) -> str:
    return instance.split("://", 1)[-1]


@dataclass(frozen=True)
class Streak:
    """The current streak of failed liveness probes of some runs (:func:`failure_streak`)."""

    #: Each failed run's probes, newest first.
    spans: tuple[FailureSpan, ...]
    #: The latest failed run: its error and instance are the alert's.
    latest: ArtifactCore
    last_success: datetime | None

    @property
    def error(self) -> str:
        check = self.latest.check("rails_health")
        return check.error if check and check.error else "no detail"


def failure_streak(artifacts: Sequence[ArtifactCore]) -> Streak | None:
    """The streak the latest judged run ends, or None when that run is up (or none is judged).
    Runs whose liveness could not be judged neither break nor extend it."""
    judged = [a for a in artifacts if a.liveness != "unknown"]
    spans: list[FailureSpan] = []
    for artifact in reversed(judged):
        span = artifact.failure_span
        if span is None:
            break
        spans.append(span)
    if not spans:
        return None
    last_ok = next((a.checked_at for a in reversed(judged) if a.liveness == "up"), None)
    return Streak(tuple(spans), judged[-1], last_ok)


def service_down(
    artifacts: Sequence[ArtifactCore], now: datetime, down_after: timedelta = SERVICE_DOWN_AFTER
) -> Alert | None:
    """Critical once liveness has failed in at least 2 probes in a row whose first and last lie
    ``down_after`` (CHATWOOT_HEALTH_DOWN_AFTER) or more apart; less is a warning
    (``health_check_failed``). The probes are the runs' and their re-probes (``reprobes``): a run
    counts by its final verdict, so one whose re-probe answered again ends the streak. Runs whose
    liveness could not be judged (skipped, no path) neither break nor extend the streak."""
    streak = failure_streak(artifacts)
    return None if streak is None else _liveness_alert(streak, down_after)


def _liveness_alert(streak: Streak, down_after: timedelta) -> Alert:
    spans, error, last_ok = streak.spans, streak.error, streak.last_success
    first, last = spans[-1].first, spans[0].last
    probes = sum(span.probes for span in spans)
    host = _host(streak.latest.instance)
    failed = (
        f"{len(spans)} runs in a row"
        if probes == len(spans)
        else f"{probes} probes in a row over {_age(last - first)}"
    )
    if probes >= SERVICE_DOWN_RUNS and last - first >= down_after:
        message = f"Rails health check failed {failed} (error: {error})"
        return raise_alert("service_down", message, first, last_success=last_ok, host=host)
    runs = "the latest run" if len(spans) == 1 else f"the latest {len(spans)} runs"
    needs = f"{SERVICE_DOWN_RUNS} runs over {_age(down_after)}"
    message = (
        f"Rails health check failed in {runs} (error: {error}); not yet an outage (needs {needs})"
    )
    return raise_alert("health_check_failed", message, first, last_success=last_ok, host=host)


def quorum_alerts(
    groups: Mapping[str, Sequence[ArtifactCore]],
    now: datetime,
    interval: timedelta,
    down_after: timedelta = SERVICE_DOWN_AFTER,
    last_seen: Mapping[str, datetime] | None = None,
) -> list[Alert]:
    """``service_down`` and its warning by quorum over several locations (:mod:`.quorum`), and
    the locations' own trouble.

    * A majority of the voting locations says down: ``service_down`` when a majority has it
      confirmed (each location's runs judged by :func:`service_down`), else
      ``health_check_failed``; the message says which locations see it.
    * A minority says down, and another location reached Chatwoot after that failure began
      while it still failed later: ``location_degraded`` naming them (never ``service_down``).
      Before such evidence (a host that runs first in a round, or last in a recovery) nothing
      is raised.
    * A location that reported before but not within the last intervals: ``probe_host_silent``.
    """
    tally = votes(groups, now, interval, last_seen)
    found: list[Alert] = []
    down = tally.down
    streaks = {vote.location: failure_streak(groups[vote.location]) for vote in down}
    raised = [_liveness_alert(s, down_after) for s in streaks.values() if s is not None]
    if tally.majority_down and raised:
        confirmed = [alert for alert in raised if alert.name == "service_down"]
        confirmed_by_majority = is_majority(len(confirmed), len(tally.voters))
        name = "service_down" if confirmed_by_majority else "health_check_failed"
        base = min(confirmed if name == "service_down" else raised, key=_since_key)
        seen = ", ".join(vote.location for vote in down)
        message = f"{base.message}; from {len(down)} of {len(tally.voters)} locations ({seen})"
        found.append(
            base.model_copy(
                update={
                    "name": name,
                    "message": message,
                    "severity": CATALOGUE[name].severity,
                    "title": CATALOGUE[name].title,
                }
            )
        )
    elif down:
        degraded = [
            vote
            for vote in down
            if vote.down_since is not None
            and any(  # it failed, another reached Chatwoot since, and it still failed after
                other.verdict == "up"
                and any(
                    run.liveness == "up" and vote.down_since < run.checked_at < vote.last_run_at
                    for run in groups.get(other.location, ())
                )
                for other in tally.voters
            )
        ]
        if degraded:
            errors = {name: s.error if s else "down" for name, s in streaks.items()}
            found.append(location_degraded(degraded, tally.voters, errors))
    if tally.silent:
        found.append(probe_host_silent(tally.silent, now, interval))
    return found


def _since_key(alert: Alert) -> datetime:
    return alert.since or datetime.max.replace(tzinfo=UTC)


def location_degraded(
    degraded: Sequence[Vote], voters: Sequence[Vote], errors: Mapping[str, str]
) -> Alert:
    """``errors``: each degraded location's liveness error, carried from its streak (the
    latest failed run's), never read back out of an alert's message."""
    names = ", ".join(vote.location for vote in degraded)
    reaching = ", ".join(vote.location for vote in voters if vote.verdict == "up")
    failing = "; ".join(f"{vote.location}: {errors[vote.location]}" for vote in degraded)
    since = min(vote.down_since for vote in degraded if vote.down_since is not None)
    message = (
        f"Liveness fails from {names} only ({failing}) while {reaching} reach Chatwoot: "
        "a problem of that location, not an outage"
    )
    criterion = Criterion(
        measured=f"down from {len(degraded)} of {len(voters)} locations ({names})",
        threshold="down from more than half of the locations for service_down",
        window=f"since {iso(since)}",
    )
    return raise_alert("location_degraded", message, since, criterion=criterion, locations=names)


def probe_host_silent(
    silent: Sequence[tuple[str, datetime]], now: datetime, interval: timedelta
) -> Alert:
    names = ", ".join(name for name, _last in silent)
    ages = ", ".join(f"{name} {_age(now - last)} ago" for name, last in silent)
    limit = LOCATION_KNOWN_INTERVALS
    message = (
        f"No run from {names} for more than {limit} intervals of {format_duration(interval)} "
        f"(last: {ages}); the other locations still report"
    )
    since = min(last for _name, last in silent) + interval * limit
    criterion = Criterion(
        measured=f"last run {ages}",
        threshold=f"≤ {limit} × {format_duration(interval)}",
        window=f"as of {iso(now)}",
    )
    return raise_alert("probe_host_silent", message, since, criterion=criterion, locations=names)


def high_queue(
    artifacts: Sequence[ArtifactCore], now: datetime, approvals: ReviewQueue | None = None
) -> Alert | None:
    """One rule, two sources of evidence: more than 10 pending for 30 minutes.

    * The conversations (the artifacts): a run at least 30 minutes before ``now`` already showed
      > 10, and so did every run since (at least one more). The episode is the latest stretch of
      such runs with no silence longer than 30 minutes between them or before ``now``: a cron
      gap is no evidence that the queue stayed high. Runs without counts are no evidence.
    * The approval queue (Supabase): its length stayed > 10 at every change point of the last 30
      minutes (:func:`~chatwoot_health.metrics.approvals.queue_stayed_above`).

    The conversations' evidence is reported when both hold.
    """
    episode: list[tuple[datetime, int]] = []  # (checked_at, pending), newest first
    later = now
    for artifact in reversed(artifacts):
        if artifact.conversations is None or artifact.checked_at > now:
            continue
        pending = artifact.conversations.pending
        if pending <= HIGH_QUEUE_PENDING or later - artifact.checked_at > HIGH_QUEUE_FOR:
            break
        episode.append((artifact.checked_at, pending))
        later = artifact.checked_at
    if len(episode) >= 2 and episode[-1][0] <= now - HIGH_QUEUE_FOR:
        since, latest = episode[-1][0], episode[0][1]
        minutes = int((now - since).total_seconds() // 60)
        message = (
            f"{latest} conversations pending; more than {HIGH_QUEUE_PENDING} in every run "
            f"of the last {minutes} minutes ({len(episode)} runs)"
        )
        measured = f"{latest} pending, more than {HIGH_QUEUE_PENDING} in {len(episode)} runs"
        criterion = _queue_criterion(measured, minutes)
        return raise_alert("high_queue", message, since, criterion=criterion, queue="pending")
    if approvals is not None and approvals.high_queue:
        minutes = int(HIGH_QUEUE_FOR.total_seconds() // 60)
        message = (
            f"{approvals.pending} approvals pending; more than "
            f"{HIGH_QUEUE_PENDING} for the whole last {minutes} minutes"
        )
        criterion = _queue_criterion(f"{approvals.pending} approvals pending", minutes)
        return raise_alert(
            "high_queue", message, now - HIGH_QUEUE_FOR, criterion=criterion, queue="approval"
        )
    return None


def slow_response(p90_last_hour_ms: float | None, since: datetime) -> Alert | None:
    if p90_last_hour_ms is None or p90_last_hour_ms <= RESPONSE_TIME_TARGET_MS:
        return None
    message = (
        f"P90 response time over the last hour is {p90_last_hour_ms / 1000:.1f} s "
        f"(target < {RESPONSE_TIME_TARGET_MS / 1000:g} s)"
    )
    criterion = Criterion(
        measured=f"P90 {p90_last_hour_ms / 1000:.3f} s",
        threshold=f"≤ {RESPONSE_TIME_TARGET_MS / 1000:g} s",
        window="the last hour",
    )
    return raise_alert("slow_response", message, since, criterion=criterion)


def uptime_below_target(
    percent: float | None, window_label: str, min_uptime: float | None, since: datetime
) -> Alert | None:
    """A warning below the 99.9 % target; critical below ``--min-uptime`` (the launch gate)."""
    if percent is None:
        return None
    gate = min_uptime is not None and percent < min_uptime
    if not gate and percent >= UPTIME_TARGET_PERCENT:
        return None
    required = (
        f"the required {min_uptime:g}% (--min-uptime)"
        if gate
        else f"the {UPTIME_TARGET_PERCENT}% target"
    )
    return raise_alert(
        "uptime_below_target",
        f"Uptime {percent:.3f}% over {window_label} is below {required}",
        since,
        severity=Severity.CRITICAL if gate else None,
        action_suffix=" before going further" if gate else "",
        criterion=Criterion(
            measured=f"uptime {percent:.3f} %",
            threshold=f"≥ {min_uptime:g} % (--min-uptime)"
            if gate
            else f"≥ {UPTIME_TARGET_PERCENT:g} %",
            window=window_label,
        ),
    )


def monitoring_gap(
    missing: int, expected: int, coverage: float | None, since: datetime, window_label: str = ""
) -> Alert | None:
    if coverage is None or coverage >= MIN_COVERAGE_PERCENT:
        return None
    message = f"monitoring gap: {missing} of {expected} runs missing — is cron running?"
    criterion = Criterion(
        measured=f"coverage {coverage:.1f} % ({expected - missing} of {expected} runs)",
        threshold=f"≥ {MIN_COVERAGE_PERCENT:g} %",
        window=window_label or f"since {iso(since)}",
    )
    return raise_alert("monitoring_gap", message, since, criterion=criterion)


def stale_data(latest: datetime | None, now: datetime, interval: timedelta) -> Alert | None:
    if latest is None or now - latest <= interval * STALE_AFTER_INTERVALS:
        return None
    message = (
        f"The latest artifact is {_age(now - latest)} old "
        f"(more than {STALE_AFTER_INTERVALS} intervals of {format_duration(interval)})"
    )
    criterion = Criterion(
        measured=f"latest run {_age(now - latest)} old",
        threshold=f"≤ {STALE_AFTER_INTERVALS} × {format_duration(interval)}",
        window=f"as of {iso(now)}",
    )
    return raise_alert(
        "stale_data", message, latest + interval * STALE_AFTER_INTERVALS, criterion=criterion
    )


def _queue_criterion(measured: str, minutes: int) -> Criterion:
    held = int(HIGH_QUEUE_FOR.total_seconds() // 60)
    return Criterion(
        measured=measured,
        threshold=f"≤ {HIGH_QUEUE_PENDING} pending within {held} minutes",
        window=f"the last {minutes} minutes",
    )


def _age(delta: timedelta) -> str:
    """``119 minutes``: an age without the "ago", for "… is N minutes old"."""
    return humanize_age(delta).removesuffix(" ago")


def agent_offline(artifacts: Sequence[ArtifactCore]) -> Alert | None:
    """The AI agent offline in the latest two runs (one failure is not news)."""
    runs = artifacts[-AGENT_OFFLINE_RUNS:]
    states = [a.check("agent_sdk") for a in runs]
    if len(states) < AGENT_OFFLINE_RUNS or any(s is None or s.state != "offline" for s in states):
        return None
    error = states[-1].error if states[-1] else "no detail"
    message = (
        f"The AI agent service failed its last {AGENT_OFFLINE_RUNS} health checks (error: {error})"
    )
    criterion = Criterion(
        measured=f"offline in the latest {AGENT_OFFLINE_RUNS} runs",
        threshold=f"online in at least one of the latest {AGENT_OFFLINE_RUNS} runs",
        window=f"the runs since {iso(runs[0].checked_at)}",
    )
    return raise_alert("agent_offline", message, runs[0].checked_at, criterion=criterion)


def channel_outage(channels: Sequence[ChannelOut]) -> Alert | None:
    silent = [c for c in channels if c.possible_outage]
    if not silent:
        return None
    hours = CHANNEL_OUTAGE_AFTER.total_seconds() / 3600
    names = ", ".join(
        f"{c.channel} ({c.silent_business_seconds / 3600:.1f} business hours)" for c in silent
    )
    since = min(c.last_message_hour for c in silent if c.last_message_hour) + HOUR
    message = f"No message for more than {hours:g} business hours on: {names}"
    criterion = Criterion(
        measured=f"silent: {names}",
        threshold=f"≤ {hours:g} business hours without a message",
        window=f"since {iso(since)}",
    )
    return raise_alert("channel_outage", message, since, criterion=criterion)


def channel_slow(channels: Sequence[ChannelOut], window: Window) -> Alert | None:
    slow = [
        c
        for c in channels
        if c.avg_first_response_seconds is not None
        and c.avg_first_response_seconds > SLOW_CHANNEL_MINUTES * 60
    ]
    if not slow:
        return None
    names = ", ".join(f"{c.channel} {c.avg_first_response_minutes:g} min" for c in slow)
    message = (
        f"Average first response over {SLOW_CHANNEL_MINUTES:g} minutes ({window.label}): {names}"
    )
    criterion = Criterion(
        measured=f"average first response {names}",
        threshold=f"≤ {SLOW_CHANNEL_MINUTES:g} min",
        window=window.label,
    )
    return raise_alert("channel_slow_response", message, window.start, criterion=criterion)


def sla_breach(sla: SlaOut, window: Window) -> Alert | None:
    """Compliance below 85 %, judged on the exact counts."""
    met, total = sla.met, sla.total
    if sla.compliance_exact is None or met is None or not total:
        return None
    if met * 100 >= SLA_YELLOW_PERCENT * total:
        return None
    message = (
        f"SLA compliance {sla.compliance_exact:.1f}% ({met}/{total}) over {window.label} is below "
        f"{SLA_YELLOW_PERCENT}% (target ≤ {sla.target_minutes:g} business minutes); "
        f"{sla.breaches} breaches"
    )
    compliance = f"SLA compliance {sla.compliance_exact:.1f} % ({met}/{total})"
    return raise_alert(
        "sla_breach",
        message,
        window.start,
        criterion=Criterion(
            measured=compliance, threshold=f"≥ {SLA_YELLOW_PERCENT} %", window=window.label
        ),
    )


def supabase_unavailable(message: str, now: datetime) -> Alert:
    return raise_alert("supabase_unavailable", message, now)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evidence:
    """What the rules judge, as far as the caller computed it: ``report`` computes every section,
    ``check`` only what its pushed alerts need. A section left None is not judged: its rules'
    alerts are neither raised nor cleared (see :func:`evaluate`). Each section comes with the
    window it was computed over. ``check`` and ``report`` build it alike:
    ``Evidence(now, runs, interval=…, …)``."""

    now: datetime
    #: Every run read, oldest first (at least the last hour's).
    artifacts: Sequence[ArtifactCore]
    _: KW_ONLY
    interval: timedelta
    #: The runs the moment rules judge (the report's window); None: every run read (``check``).
    in_window: Sequence[ArtifactCore] | None = None
    down_after: timedelta = SERVICE_DOWN_AFTER
    channels: tuple[Sequence[ChannelOut], Window] | None = None
    uptime: tuple[UptimeOut, Window] | None = None
    min_uptime: float | None = None
    sla: tuple[SlaOut, Window] | None = None
    #: The approval queue (Supabase): the second source of evidence of ``high_queue``.
    queue: ReviewQueue | None = None
    #: Why Supabase could not be read (raises ``supabase_unavailable``).
    unavailable: str | None = None
    #: Several probe locations (issue #14): the reader's own location (runs without one are
    #: its), and the latest run of each location over a longer look-back (the store's).
    location: str = ""
    last_seen: Mapping[str, datetime] | None = None
    #: Judged by one probe host of several for its own notifications (``check`` with the store),
    #: not by a reader of every location's runs (``report``): see :func:`_own_view`.
    probe_host: bool = False


def evaluate(evidence: Evidence) -> tuple[list[Alert], frozenset[str]]:
    """Every rule the evidence allows: the active alerts (critical first, then by name) and the
    names judged (an alert judged and not active has cleared; one not judged is unknown)."""
    e, now = evidence, evidence.now
    in_window = e.artifacts if e.in_window is None else e.in_window
    last_hour = Window.ending(now, HOUR)
    last_hour_values = sorted(
        v for values in successful_durations(last_hour.select(e.artifacts)).values() for v in values
    )
    judged = {"service_down", "health_check_failed", "high_queue", "slow_response"}
    judged |= {"stale_data", "agent_offline"}
    groups = by_location(in_window, e.location)
    several = len(groups) > 1 or len(set(e.last_seen or ()) | set(groups)) > 1
    liveness: list[Alert | None] = [service_down(in_window, now, e.down_after)]
    if several:  # the quorum of the locations decides (one location: exactly as before)
        judged |= {"location_degraded", "probe_host_silent"}
        liveness = list(quorum_alerts(groups, now, e.interval, e.down_after, e.last_seen))
    candidates: list[Alert | None] = [
        *liveness,
        high_queue(in_window, now, e.queue),
        slow_response(percentile(last_hour_values, 90), last_hour.start),
        stale_data(e.artifacts[-1].checked_at if e.artifacts else None, now, e.interval),
        agent_offline(in_window),
    ]
    if e.uptime is not None:
        uptime, window = e.uptime
        judged |= {"uptime_below_target", "monitoring_gap"}
        first_down = next((a.checked_at for a in in_window if a.liveness == "down"), None)
        candidates += [
            uptime_below_target(
                uptime.percent_exact, window.label, e.min_uptime, first_down or window.start
            ),
            monitoring_gap(
                uptime.missing_runs,
                uptime.expected_checks,
                uptime.coverage_exact,
                window.start,
                window.label,
            ),
        ]
    if e.channels is not None:
        channels, window = e.channels
        judged |= {"channel_outage", "channel_slow_response"}
        candidates += [channel_outage(channels), channel_slow(channels, window)]
    if e.sla is not None:
        judged |= {"sla_breach", "supabase_unavailable"}
        candidates.append(sla_breach(e.sla[0], e.sla[1]))
        if e.unavailable is not None:
            candidates.append(supabase_unavailable(e.unavailable, now))
    active = [alert for alert in candidates if alert is not None]
    active.sort(key=lambda a: (a.severity is not Severity.CRITICAL, a.name))
    if several:
        own = _own_verdict(groups.get(e.location, ()), now)
        return _own_view(active, frozenset(judged), own, e.probe_host)
    return active, frozenset(judged)


# --------------------------------------------------------------------------- one host's view
#
# Several probe hosts judge the same outage, each from its own run and the others' runs as the
# store holds them. Hosts that run at the same instant read each other "as of" their own start,
# so a peer's run begun a moment later counts with its previous verdict: a host's view of the
# others may be a round old. Its own run, however, is fresh. Hence one rule, in three parts: the
# quorum's ``service_down`` is only ever started by a host that sees Chatwoot down itself, only
# ever cleared by one that sees it up, and one host that sees it down never pages alone.


def _own_verdict(runs: Sequence[ArtifactCore], now: datetime) -> Liveness:
    """The reader's own latest judged liveness at ``now`` ("unknown" when none)."""
    judged = [run.liveness for run in runs if run.liveness != "unknown" and run.checked_at <= now]
    return judged[-1] if judged else "unknown"


def _own_view(
    active: list[Alert], judged: frozenset[str], own: Liveness, probe_host: bool
) -> tuple[list[Alert], frozenset[str]]:
    """The quorum's verdict on ``service_down`` as one location, whose verdict is ``own``,
    may act on it (several locations only).

    * It sees Chatwoot down: it never *clears* the quorum's ``service_down``. "Not a majority
      down" from a view a round old is no evidence of recovery; otherwise the episode another
      host just opened would be resolved at once and re-opened the next round (start/resolve
      every round with cron on several hosts at :00). A location that stays down alone
      (``location_degraded``) leaves the clearing to the locations that reach Chatwoot.
    * A probe host (:attr:`Evidence.probe_host`) that sees Chatwoot up never *starts* it: after a
      recovery, the host that began first and judges last would count the others' previous,
      down, round and page again. The hosts that see Chatwoot down raise and keep it; this
      judgement neither starts nor clears it. (``report`` reads every location's runs, not a
      round-old view of them: it shows the quorum's verdict as it is.)
    """
    raised = any(alert.name == "service_down" for alert in active)
    if own == "down" and not raised:
        return active, judged - {"service_down"}  # no evidence of recovery here
    if own == "up" and raised and probe_host:
        kept = [alert for alert in active if alert.name != "service_down"]
        return kept, judged - {"service_down"}
    return active, judged


#: Why :func:`quorum_exit_code` lowered a run's exit code (a line of ``check``'s output).
NOT_A_QUORUM = (
    "liveness is down from this location but not from most locations: WARNING, not "
    "CRITICAL (service_down needs a majority of the locations; one host never pages alone)"
)


def quorum_exit_code(
    code: ExitCode,
    liveness: Liveness,
    auth_rejected: bool,
    active: Sequence[Alert],
    last_seen: Mapping[str, datetime] | None,
) -> ExitCode:
    """A probe host's exit code for its run (``code``, the run's own) once the quorum judged:
    a run that found Chatwoot down (``liveness``) while the quorum of locations (``last_seen``:
    every location's latest run; None, one location) raised neither ``service_down`` nor its
    warning is this location's problem: WARNING (``location_degraded``), never a page from one
    host alone. A rejected token stays CRITICAL (:data:`NOT_A_QUORUM` says why when lowered)."""
    if last_seen is None or len(last_seen) < 2 or liveness != "down":
        return code
    if any(alert.name in ("service_down", "health_check_failed") for alert in active):
        return code
    if code is not ExitCode.CRITICAL or auth_rejected:
        return code
    return ExitCode.WARNING


def worst_severity(alerts: Sequence[Alert]) -> State:
    return worst((alert.severity.state for alert in alerts), default=State.OK)


def alert_text(alert: Alert, now: datetime) -> str:
    """The spec's alert format: title line with status word, what failed, last success, action."""
    icon = "🔴" if alert.severity is Severity.CRITICAL else "🟡"
    lines = [f"{icon} {alert.severity.state.word} Chatwoot Alert: {alert.title}", alert.message]
    if alert.last_success is not None:
        lines.append(f"Last successful check: {humanize_age(now - alert.last_success)}")
    elif alert.name in ("service_down", "health_check_failed"):
        lines.append("Last successful check: none in the data")
    if alert.action:
        lines.append(f"Action: {alert.action}")
    return "\n".join(lines)
