"""Alerts: rules over the artifact history; the ones that judge a moment (an outage, a queue, the AI
agent) need persistence, so that a single blip never raises them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.channels import (
    HOUR,
    OUTAGE_AFTER,
    SLOW_CHANNEL_MINUTES,
    ChannelActivity,
)
from chatwoot_health.metrics.uptime import MIN_COVERAGE
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.artifact import UtcDatetime
from chatwoot_health.state import State, worst
from chatwoot_health.timeutil import format_duration, humanize_age


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def state(self) -> State:
        return State.CRITICAL if self is Severity.CRITICAL else State.WARNING


class Alert(BaseModel):
    """One active alert. ``since`` is when the condition started (as far as the data shows)."""

    model_config = ConfigDict(frozen=True)

    name: str
    severity: Severity
    title: str
    message: str
    since: UtcDatetime | None = None
    action: str | None = None
    last_success: UtcDatetime | None = None


# --------------------------------------------------------------------------- rules
# Each rule is a pure function of the artifact history (oldest first) and ``now``; it returns an
# Alert or None. Persistence (two runs, two minutes, thirty minutes of evidence) keeps a single
# blip from raising service_down, high_queue or agent_offline; the window rules (uptime,
# coverage, SLA) judge the whole window, where one failed run does count.

#: A warning whose condition, persisting, becomes a critical alert of another name.
ESCALATES_TO = {"health_check_failed": "service_down"}

SERVICE_DOWN_AFTER = timedelta(minutes=2)
HIGH_QUEUE_FOR = timedelta(minutes=30)
HIGH_QUEUE_PENDING = 10
SLOW_RESPONSE_MS = 5000.0
UPTIME_TARGET = 99.9
STALE_AFTER_INTERVALS = 3


def _host(instance: str) -> str:
    return instance.split("://", 1)[-1]


def service_down(artifacts: Sequence[ArtifactCore], now: datetime) -> Alert | None:
    """Critical after ≥ 2 consecutive failed liveness runs spanning ≥ 2 minutes; one failure is a
    warning. Runs whose liveness could not be judged (skipped, no path) neither break nor extend
    the streak."""
    judged = [a for a in artifacts if a.liveness != "unknown"]
    streak: list[ArtifactCore] = []
    for artifact in reversed(judged):
        if artifact.liveness == "down":
            streak.append(artifact)
        else:
            break
    if not streak:
        return None
    streak.reverse()
    first, latest = streak[0], streak[-1]
    last_ok = next((a.checked_at for a in reversed(judged) if a.liveness == "up"), None)
    check = latest.check("rails_health")
    error = check.error if check and check.error else "no detail"
    host = _host(latest.instance)
    common = {
        "since": first.checked_at,
        "last_success": last_ok,
        "action": f"Verify the Chatwoot instance at {host}",
    }
    if len(streak) >= 2 and latest.checked_at - first.checked_at >= SERVICE_DOWN_AFTER:
        return Alert(
            name="service_down",
            severity=Severity.CRITICAL,
            title="Service Down",
            message=f"Rails health check failed {len(streak)} runs in a row (error: {error})",
            **common,
        )
    runs = "the latest run" if len(streak) == 1 else f"the latest {len(streak)} runs"
    return Alert(
        name="health_check_failed",
        severity=Severity.WARNING,
        title="Health Check Failed",
        message=f"Rails health check failed in {runs} (error: {error}); "
        "not yet an outage (needs 2 runs over 2 minutes)",
        **common,
    )


def high_queue(artifacts: Sequence[ArtifactCore], now: datetime) -> Alert | None:
    """Pending > 10 for 30 minutes, on evidence: a run at least 30 minutes before ``now`` already
    showed > 10, and so did every run since (at least one more). The episode is the latest
    stretch of such runs with no silence longer than 30 minutes between them or before ``now``: a
    cron gap is no evidence that the queue stayed high. Runs without counts (the probe failed)
    are no evidence either way."""
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
    if len(episode) < 2 or episode[-1][0] > now - HIGH_QUEUE_FOR:
        return None
    since, latest = episode[-1][0], episode[0][1]
    minutes = int((now - since).total_seconds() // 60)
    return Alert(
        name="high_queue",
        severity=Severity.WARNING,
        title="High Queue",
        message=f"{latest} conversations pending; more than {HIGH_QUEUE_PENDING} in every run "
        f"of the last {minutes} minutes ({len(episode)} runs)",
        since=since,
        action="Add reviewers or triage the pending queue",
    )


def slow_response(p90_last_hour_ms: float | None, since: datetime) -> Alert | None:
    if p90_last_hour_ms is None or p90_last_hour_ms <= SLOW_RESPONSE_MS:
        return None
    return Alert(
        name="slow_response",
        severity=Severity.WARNING,
        title="Slow Response",
        message=f"P90 response time over the last hour is {p90_last_hour_ms / 1000:.1f} s "
        f"(target < {SLOW_RESPONSE_MS / 1000:g} s)",
        since=since,
        action="Check Chatwoot's load, database and network latency",
    )


def uptime_below_target(
    percent: float | None, window_label: str, min_uptime: float | None, since: datetime
) -> Alert | None:
    """A warning below the 99.9 % target; critical below ``--min-uptime`` (the launch gate)."""
    if percent is None:
        return None
    gate = min_uptime is not None and percent < min_uptime
    if not gate and percent >= UPTIME_TARGET:
        return None
    required = (
        f"the required {min_uptime:g}% (--min-uptime)" if gate else (f"the {UPTIME_TARGET}% target")
    )
    return Alert(
        name="uptime_below_target",
        severity=Severity.CRITICAL if gate else Severity.WARNING,
        title="Uptime Below Target",
        message=f"Uptime {percent:.3f}% over {window_label} is below {required}",
        since=since,
        action="Review the outages in this window" + (" before going further" if gate else ""),
    )


def monitoring_gap(
    missing: int, expected: int, coverage: float | None, since: datetime
) -> Alert | None:
    if coverage is None or coverage >= MIN_COVERAGE:
        return None
    return Alert(
        name="monitoring_gap",
        severity=Severity.WARNING,
        title="Monitoring Gap",
        message=f"monitoring gap: {missing} of {expected} runs missing — is cron running?",
        since=since,
        action="Check the cron job that runs `chatwoot-health check` (see crontab.example)",
    )


def stale_data(latest: datetime | None, now: datetime, interval: timedelta) -> Alert | None:
    if latest is None or now - latest <= interval * STALE_AFTER_INTERVALS:
        return None
    return Alert(
        name="stale_data",
        severity=Severity.WARNING,
        title="Stale Data",
        message=f"The latest artifact is {_age(now - latest)} old "
        f"(more than {STALE_AFTER_INTERVALS} intervals of {format_duration(interval)})",
        since=latest + interval * STALE_AFTER_INTERVALS,
        last_success=None,
        action="Check that cron still runs `chatwoot-health check`",
    )


def _age(delta: timedelta) -> str:
    """``119 minutes``: an age without the "ago", for "… is N minutes old"."""
    return humanize_age(delta).removesuffix(" ago")


def agent_offline(artifacts: Sequence[ArtifactCore]) -> Alert | None:
    """The AI agent offline in the latest two runs (one failure is not news)."""
    states = [a.check("agent_sdk") for a in artifacts[-2:]]
    if len(states) < 2 or any(s is None or s.state != "offline" for s in states):
        return None
    first = states[0]
    assert first is not None
    return Alert(
        name="agent_offline",
        severity=Severity.WARNING,
        title="AI Agent Offline",
        message=f"The AI agent service failed its last 2 health checks "
        f"(error: {states[-1].error if states[-1] else 'no detail'})",
        since=artifacts[-2].checked_at,
        action="Check the AI agent service (AGENT_HEALTH_URL)",
    )


def channel_outage(channels: Sequence[ChannelActivity]) -> Alert | None:
    silent = [c for c in channels if c.possible_outage]
    if not silent:
        return None
    hours = OUTAGE_AFTER.total_seconds() / 3600
    names = ", ".join(
        f"{c.channel} ({c.silent_business_seconds / 3600:.1f} business hours)" for c in silent
    )
    since = min(c.last_message_hour for c in silent if c.last_message_hour) + HOUR
    return Alert(
        name="channel_outage",
        severity=Severity.WARNING,
        title="Possible Channel Outage",
        message=f"No message for more than {hours:g} business hours on: {names}",
        since=since,
        action="Check the channel's inbox connection in Chatwoot (Settings → Inboxes)",
    )


def channel_slow(channels: Sequence[ChannelActivity], window: Window) -> Alert | None:
    slow = [
        c
        for c in channels
        if c.avg_first_response_seconds is not None
        and c.avg_first_response_seconds > SLOW_CHANNEL_MINUTES * 60
    ]
    if not slow:
        return None
    names = ", ".join(f"{c.channel} {c.avg_first_response_minutes:g} min" for c in slow)
    return Alert(
        name="channel_slow_response",
        severity=Severity.WARNING,
        title="Slow Channel Response",
        message=f"Average first response over {SLOW_CHANNEL_MINUTES:g} minutes ({window.label}): "
        f"{names}",
        since=window.start,
        action="Rebalance agents towards these channels",
    )


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
