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
from typing import TYPE_CHECKING

from pydantic import BaseModel

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.fileio import WriteError, read_regular, write_text_atomic
from chatwoot_health.metrics.approvals import latency_summary, review_queue
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.sla import compute_sla
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.base import UtcDatetime
from chatwoot_health.models.report import ApprovalsOut, LatencyTarget, SlaOut
from chatwoot_health.models.rows import ApprovalRow, DecisionRow
from chatwoot_health.models.settings import SupabaseSettings
from chatwoot_health.report.build import ExtraSections
from chatwoot_health.report.options import SectionWindows
from chatwoot_health.timeutil import humanize_age

if TYPE_CHECKING:
    from chatwoot_health.sources.supabase import SupabaseSource

CACHE_FILE = "supabase-sections.json"
DAY = timedelta(hours=24)


class _Cached(BaseModel):
    saved_at: UtcDatetime
    sla: SlaOut
    approvals: ApprovalsOut


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def compute_sections(
    decisions: Sequence[DecisionRow],
    approvals: Sequence[ApprovalRow],
    window: Window,
    now: datetime,
    calendar: BusinessCalendar,
    target: timedelta,
    reviewers_online: int | None,
) -> ExtraSections:
    """Pure: rows → the SLA and approvals sections, the approval latency targets and the queue
    (the evidence of ``high_queue``)."""
    sla = compute_sla(decisions, window.start, window.end, now, calendar, target)
    latencies = latency_summary(
        [row for row in decisions if window.contains(row.message_received_at)]
    )
    queue = review_queue(approvals, now, now - DAY, reviewers_online)
    approvals_out = ApprovalsOut(
        webhook_ms=latencies.webhook_ms,
        private_note_ms=latencies.private_note_ms,
        approval_ms=latencies.approval_ms,
        pending=queue.pending,
        avg_processing_minutes=_round(queue.avg_processing_minutes),
        estimated_wait_minutes=_round(queue.estimated_wait_minutes),
        reviewers_available=reviewers_online,
        status="green" if not queue.high_queue else "yellow",
    )
    targets = [
        LatencyTarget(name=name, target_ms=stat.target or 0.0, p90_ms=stat.p90, missed=stat.missed)
        for name, stat in (
            ("webhook", latencies.webhook_ms),
            ("private_note", latencies.private_note_ms),
            ("approval_action", latencies.approval_ms),
        )
    ]
    return ExtraSections(sla=sla, approvals=approvals_out, latency_targets=targets, queue=queue)


def _reviewers_online(artifacts: Sequence[ArtifactCore]) -> int | None:
    for artifact in reversed(artifacts):
        if artifact.agents is not None:
            return artifact.agents.online
    return None


class SupabaseProvider:
    """Supplies the Supabase sections to :func:`~chatwoot_health.report.build.build_report`.

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
        self._rows: tuple[list[DecisionRow], list[ApprovalRow]] | None = None
        self._error: str | None = None
        self._calls = 0

    def _fetch(self) -> tuple[list[DecisionRow], list[ApprovalRow]] | None:
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

    def __call__(self, artifacts: Sequence[ArtifactCore], windows: SectionWindows) -> ExtraSections:
        first = self._calls == 0
        self._calls += 1
        rows = self._fetch()
        if rows is None:
            return self._fallback(self._error or "Supabase unavailable")
        decisions, approvals = rows
        sections = compute_sections(
            decisions,
            approvals,
            windows.sla,
            self.now,
            self.calendar,
            self.target,
            _reviewers_online(artifacts),
        )
        if first and self.live:
            try:
                cached = _Cached(saved_at=self.now, sla=sections.sla, approvals=sections.approvals)
                write_text_atomic(self.cache_dir / CACHE_FILE, cached.model_dump_json())
            except WriteError as exc:
                self.diagnostics.append(f"Supabase cache not written: {exc}")
        return sections

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
        return ExtraSections(sla=sla, approvals=approvals, unavailable=message)

    @property
    def error(self) -> str | None:
        return self._error

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
