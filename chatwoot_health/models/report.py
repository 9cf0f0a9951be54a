"""The report as data: what ``report --format json`` prints and every renderer reads.

The metric functions return these models directly. A value is shown rounded (to 0.1 ms, 0.1 %,
…) but judged exact: the exact value travels beside it in a field excluded from the JSON
(``Field(exclude=True)``), so no rule ever judges a rounded number.

Section ``status`` fields carry the spec's colour (green, yellow, red, grey = no data); the
top-level ``status`` is the monitoring state (ok, warning, critical, unknown) and matches the
exit code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatwoot_health.models.alert import Alert
from chatwoot_health.models.base import UtcDatetime
from chatwoot_health.state import Colour, State
from chatwoot_health.thresholds import RESPONSE_TARGET_MINUTES


class _Out(BaseModel):
    # defer_build: each output model's validator is built when first used, not at import
    # (check's alert step builds channel rows only; a report builds them all anyway).
    model_config = ConfigDict(frozen=True, defer_build=True)


def _exact() -> float | None:
    """An exact value the rules judge, kept beside its rounded display and out of the JSON."""
    return Field(default=None, exclude=True)


class WindowOut(_Out):
    label: str
    start: UtcDatetime
    end: UtcDatetime


class UptimeOut(_Out):
    current: Literal["up", "down", "unknown"]
    last_checked_at: UtcDatetime | None
    last_checked_ago: str | None
    last_success_at: UtcDatetime | None
    error: str | None
    percent: float | None
    checks_up: int
    checks_down: int
    runs_seen: int
    expected_checks: int
    coverage_percent: float | None
    status: Colour
    window: WindowOut
    percent_exact: float | None = _exact()
    coverage_exact: float | None = _exact()

    @property
    def missing_runs(self) -> int:
        return max(0, self.expected_checks - self.runs_seen)


class PercentilesOut(_Out):
    """Shown to 0.1 ms; the target is judged on the exact P90 (5000.04 ms misses 5 s)."""

    median_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    samples: int
    p90_exact_ms: float | None = _exact()


class LatencyTarget(_Out):
    name: str
    target_ms: float
    p90_ms: float | None
    missed: bool


class ResponseTimeOut(_Out):
    median_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    samples: int
    by_check: dict[str, PercentilesOut]
    target_ms: float
    targets: list[LatencyTarget]
    targets_missed: int
    status: Colour
    window: WindowOut


class ConversationsOut(_Out):
    """The latest counts (all None, grey, when no run in the window could fetch them)."""

    open: int | None = None
    pending: int | None = None
    resolved: int | None = None
    snoozed: int | None = None
    as_of: UtcDatetime | None = None
    age: str | None = None
    stale: bool = False
    banner: str | None = None
    status: Colour = Colour.GREY


class ChannelOut(_Out):
    channel: str
    messages: int
    share_percent: float | None
    avg_first_response_minutes: float | None
    target_minutes: float
    responses: int
    last_message_hour: UtcDatetime | None
    silent_business_hours: float
    status: Colour
    #: The exact average the colour and the slow-channel alert are judged on (15.04 min is over
    #: a 15-minute target, although it shows as 15.0).
    avg_first_response_seconds: float | None = _exact()
    silent_business_seconds: float = Field(default=0.0, exclude=True)
    #: Had traffic, then more than CHANNEL_OUTAGE_AFTER of observed business time without any.
    possible_outage: bool = Field(default=False, exclude=True)


class ChannelsMeta(_Out):
    window: WindowOut
    data: Literal["ok", "no_data"]
    note: str | None = None


class AiAgentOut(_Out):
    state: str
    duration_ms: float | None
    error: str | None
    checked_at: UtcDatetime | None


class HumansOut(_Out):
    online: int
    busy: int
    offline: int
    available: list[str]
    as_of: UtcDatetime | None


class AgentsOut(_Out):
    ai: AiAgentOut
    humans: HumansOut | None
    status: Colour


class BreachOut(_Out):
    conversation_id: int
    customer_name: str | None
    channel: str | None
    wait_minutes: float
    reason: str | None
    pending: bool = False


class SlaOut(_Out):
    compliance_percent: float | None = None
    met: int | None = None
    total: int | None = None
    in_progress: int | None = None
    avg_response_minutes: float | None = None
    breaches: int | None = None
    breach_details: list[BreachOut] = Field(default_factory=list)
    target_minutes: float = RESPONSE_TARGET_MINUTES
    status: Colour | Literal["not_configured", "unknown"] = "not_configured"
    error: str | None = None
    cached_at: UtcDatetime | None = None
    window: WindowOut | None = None
    compliance_exact: float | None = _exact()
    avg_response_exact: float | None = _exact()


class MedianP90(_Out):
    median: float | None = None
    p90: float | None = None
    samples: int = 0
    target: float | None = None
    missed: bool = False


class ApprovalsOut(_Out):
    webhook_ms: MedianP90 = Field(default_factory=MedianP90)
    private_note_ms: MedianP90 = Field(default_factory=MedianP90)
    approval_ms: MedianP90 = Field(default_factory=MedianP90)
    pending: int | None = None
    avg_processing_minutes: float | None = None
    estimated_wait_minutes: float | None = None
    reviewers_available: int | None = None
    status: Colour | Literal["not_configured", "unknown"] = "not_configured"
    error: str | None = None
    cached_at: UtcDatetime | None = None


class TimelineBucket(_Out):
    """One bar of the uptime timeline and one point of the latency trend."""

    start: UtcDatetime
    end: UtcDatetime
    up: int
    down: int
    expected: int
    median_ms: float | None
    p90_ms: float | None


class SkippedFile(_Out):
    file: str
    reason: str


class ArtifactsOut(_Out):
    read: int
    skipped: int
    skipped_files: list[SkippedFile]
    directory: str


class AlertOut(Alert):
    text: str


class LocationOut(_Out):
    """One probe location of a report over several (issue #14)."""

    name: str
    runs: int
    up: int
    down: int
    last_run_at: UtcDatetime | None
    #: Its latest judged verdict; unknown without one; silent: no run within 3 intervals.
    status: Literal["up", "down", "unknown", "silent"]
    #: Its own uptime (its runs up ÷ judged) and coverage (its runs ÷ the checks expected since
    #: it began reporting), as ``uptime`` counts one location's runs, and its successful
    #: checks' percentiles, as ``response_time``'s.
    percent: float | None = None
    expected_checks: int = 0
    coverage_percent: float | None = None
    response_time: PercentilesOut = PercentilesOut(
        median_ms=None, p90_ms=None, p99_ms=None, samples=0
    )


class Report(_Out):
    schema_version: Literal[1] = 1
    generated_at: UtcDatetime
    instance: str | None
    window: WindowOut
    status: State
    exit_code: int
    uptime: UptimeOut
    response_time: ResponseTimeOut
    conversations: ConversationsOut
    channels: list[ChannelOut]
    channels_meta: ChannelsMeta
    agents: AgentsOut
    sla: SlaOut
    approvals: ApprovalsOut
    alerts: list[AlertOut]
    timeline: list[TimelineBucket]
    artifacts: ArtifactsOut
    tool_version: str
    #: Only when the runs come from more than one location (then uptime's counts are the
    #: quorum's per slot); absent from the JSON otherwise, so one location's report is unchanged.
    locations: list[LocationOut] | None = None
