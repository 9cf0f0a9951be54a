"""The Supabase-backed report sections: SLA compliance, approval latencies, the review queue.

Reads rows through :class:`~chatwoot_health.sources.supabase.SupabaseSource` (imported lazily, so
a report without Supabase never loads the client), computes the sections with the pure metric
functions, and remembers the last good sections in a cache file: when Supabase is unreachable
the report shows them with their age and a ``supabase_unavailable`` warning, and every other
section is unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chatwoot_health.alerts import Alert, Severity
from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.fileio import WriteError, read_regular, write_text_atomic
from chatwoot_health.metrics.approvals import (
    HIGH_QUEUE_DURATION,
    HIGH_QUEUE_THRESHOLD,
    LatencyStat,
    latency_summary,
    review_queue,
)
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.sla import YELLOW_AT_PERCENT, compute_sla
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.artifact import UtcDatetime
from chatwoot_health.report import ExtraSections
from chatwoot_health.report_model import (
    ApprovalsOut,
    BreachOut,
    LatencyTarget,
    MedianP90,
    SlaOut,
    WindowOut,
)
from chatwoot_health.timeutil import humanize_age

if TYPE_CHECKING:
    from chatwoot_health.sources.supabase import SupabaseSettings, SupabaseSource

CACHE_FILE = "supabase-sections.json"
HIGH_QUEUE_MINUTES = int(HIGH_QUEUE_DURATION.total_seconds() // 60)
DAY = timedelta(hours=24)


class _Cached(BaseModel):
    saved_at: UtcDatetime
    sla: SlaOut
    approvals: ApprovalsOut


def _median_p90(stat: LatencyStat) -> MedianP90:
    return MedianP90(
        median=stat.median,
        p90=stat.p90,
        samples=stat.samples,
        target=float(stat.target_ms),
        missed=stat.missed,
    )


def compute_sections(
    decisions: list[Any],
    approvals: list[Any],
    window: Window,
    now: datetime,
    calendar: BusinessCalendar,
    target: timedelta,
    reviewers_online: int | None,
) -> tuple[SlaOut, ApprovalsOut, list[Alert], list[LatencyTarget]]:
    """Pure: rows → sections, alerts and the approval latency targets."""
    sla = compute_sla(decisions, window.start, window.end, now, calendar, target)
    latencies = latency_summary(
        [row for row in decisions if window.contains(row.message_received_at)]
    )
    queue = review_queue(approvals, now, now - DAY, reviewers_online)
    window_out = WindowOut(label=window.label, start=window.start, end=window.end)
    sla_out = SlaOut(
        compliance_percent=None
        if sla.compliance_percent is None
        else round(sla.compliance_percent, 1),
        met=sla.met,
        total=sla.total,
        in_progress=sla.in_progress,
        avg_response_minutes=None
        if sla.avg_response_minutes is None
        else round(sla.avg_response_minutes, 1),
        breaches=sla.breaches,
        breach_details=[BreachOut(**b.model_dump()) for b in sla.breach_details],
        target_minutes=target.total_seconds() / 60,
        status=sla.status,
        window=window_out,
    )
    approvals_out = ApprovalsOut(
        webhook_ms=_median_p90(latencies.webhook_ms),
        private_note_ms=_median_p90(latencies.private_note_ms),
        approval_ms=_median_p90(latencies.approval_ms),
        pending=queue.pending,
        avg_processing_minutes=None
        if queue.avg_processing_minutes is None
        else round(queue.avg_processing_minutes, 1),
        estimated_wait_minutes=None
        if queue.estimated_wait_minutes is None
        else round(queue.estimated_wait_minutes, 1),
        reviewers_available=reviewers_online,
        status="green" if not queue.high_queue else "yellow",
    )
    alerts: list[Alert] = []
    if sla.compliance_percent is not None and sla.met * 100 < YELLOW_AT_PERCENT * sla.total:
        alerts.append(
            Alert(
                name="sla_breach",
                severity=Severity.CRITICAL,
                title="SLA Breach",
                message=f"SLA compliance {sla.compliance_percent:.1f}% "
                f"({sla.met}/{sla.total}) over {window.label} is below {YELLOW_AT_PERCENT}% "
                f"(target ≤ {target.total_seconds() / 60:g} business minutes); "
                f"{sla.breaches} breaches",
                since=window.start,
                action="Review the breach details and add reviewers during business hours",
            )
        )
    if queue.high_queue:
        alerts.append(
            Alert(
                name="high_queue",
                severity=Severity.WARNING,
                title="High Queue",
                message=f"{queue.pending} approvals pending; more than "
                f"{HIGH_QUEUE_THRESHOLD} for the whole last {HIGH_QUEUE_MINUTES} minutes",
                since=now - HIGH_QUEUE_DURATION,
                action="Add reviewers or triage the approval queue",
            )
        )
    targets = [
        LatencyTarget(
            name=name, target_ms=float(stat.target_ms), p90_ms=stat.p90, missed=stat.missed
        )
        for name, stat in (
            ("webhook", latencies.webhook_ms),
            ("private_note", latencies.private_note_ms),
            ("approval_action", latencies.approval_ms),
        )
    ]
    return sla_out, approvals_out, alerts, targets


def _reviewers_online(artifacts: Sequence[ArtifactCore]) -> int | None:
    for artifact in reversed(artifacts):
        if artifact.agents is not None:
            return artifact.agents.online
    return None


class SupabaseProvider:
    """Supplies the Supabase sections to :func:`~chatwoot_health.report.build_report`.

    Rows are fetched once per run, for the widest window any caller will ask for
    (``fetch_start``); each report (the HTML page builds one per range) filters them in memory.
    """

    def __init__(
        self,
        settings: SupabaseSettings,
        cache_dir: Path,
        now: datetime,
        calendar: BusinessCalendar,
        target: timedelta,
        fetch_start: datetime,
        live: bool = True,
    ) -> None:
        self.settings = settings
        self.source: SupabaseSource | None = None
        self.live = live  # a report for a past --at must not replace the cache of live data
        self.cache_dir = cache_dir
        self.now = now
        self.calendar = calendar
        self.target = target
        self.fetch_start = fetch_start
        self.diagnostics: list[str] = []
        self._rows: tuple[list[Any], list[Any]] | None = None
        self._error: str | None = None
        self._calls = 0

    def _fetch(self) -> tuple[list[Any], list[Any]] | None:
        from chatwoot_health.sources.supabase import SupabaseError, SupabaseSource

        if self._rows is None and self._error is None:
            try:
                if self.source is None:
                    self.source = SupabaseSource(self.settings)
                decisions = self.source.decisions(self.fetch_start, self.now)
                approvals = self.source.approvals(self.now - DAY, self.now)
                self._rows = (decisions, approvals)
            except SupabaseError as exc:
                self._error = str(exc)
                self.diagnostics.append(f"Supabase: {exc}")
        return self._rows

    def __call__(
        self, artifacts: Sequence[ArtifactCore], windows: dict[str, Window]
    ) -> ExtraSections:
        first = self._calls == 0
        self._calls += 1
        window = windows["sla"]
        rows = self._fetch()
        if rows is None:
            return self._fallback(self._error or "Supabase unavailable")
        decisions, approvals = rows
        sla, approvals_out, alerts, targets = compute_sections(
            decisions,
            approvals,
            window,
            self.now,
            self.calendar,
            self.target,
            _reviewers_online(artifacts),
        )
        if first and self.live:
            try:
                cached = _Cached(saved_at=self.now, sla=sla, approvals=approvals_out)
                write_text_atomic(self.cache_dir / CACHE_FILE, cached.model_dump_json())
            except WriteError as exc:
                self.diagnostics.append(f"Supabase cache not written: {exc}")
        return ExtraSections(
            sla=sla, approvals=approvals_out, alerts=alerts, latency_targets=targets
        )

    def _fallback(self, error: str) -> ExtraSections:
        cached: _Cached | None
        try:
            # Bounded like an artifact: a regular file, not through a link, at most 1 MB.
            raw = read_regular(str(self.cache_dir / CACHE_FILE), 1024 * 1024)
            cached = _Cached.model_validate_json(raw)
        except (OSError, ValueError):
            cached = None
        message = error
        if cached is not None and cached.saved_at <= self.now:
            age = humanize_age(self.now - cached.saved_at)
            message += f" — using cached data from {age}"
            update = {"status": "unknown", "error": message, "cached_at": cached.saved_at}
            sla = cached.sla.model_copy(update=update)
            approvals = cached.approvals.model_copy(update=update)
        else:
            sla = SlaOut(status="unknown", error=message)
            approvals = ApprovalsOut(status="unknown", error=message)
        alert = Alert(
            name="supabase_unavailable",
            severity=Severity.WARNING,
            title="Supabase Unavailable",
            message=message,
            since=self.now,
            action="Check SUPABASE_URL, SUPABASE_KEY and the tables (supabase/migrations/)",
        )
        return ExtraSections(sla=sla, approvals=approvals, alerts=[alert])

    @property
    def error(self) -> str | None:
        return self._error

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
