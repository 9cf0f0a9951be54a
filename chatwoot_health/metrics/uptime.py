"""Uptime: up ÷ (up + down) runs, with missing runs counted as neither (coverage instead)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.window import Window
from chatwoot_health.state import Colour

GREEN_AT = 99.9
YELLOW_AT = 99.0
MIN_COVERAGE = 90.0


@dataclass(frozen=True)
class Uptime:
    current: str  # up | down | unknown
    last_checked_at: datetime | None
    last_success_at: datetime | None
    current_error: str | None
    percent: float | None
    checks_up: int
    checks_down: int
    runs_seen: int
    expected_checks: int
    coverage_percent: float | None
    status: Colour

    @property
    def missing_runs(self) -> int:
        return max(0, self.expected_checks - self.runs_seen)


def uptime_colour(percent: float | None) -> Colour:
    if percent is None:
        return Colour.GREY
    if percent >= GREEN_AT:
        return Colour.GREEN
    if percent >= YELLOW_AT:
        return Colour.YELLOW
    return Colour.RED


def monitoring_start(
    first_name: datetime | None, artifacts: Sequence[ArtifactCore]
) -> datetime | None:
    """When monitoring began, exactly: the oldest artifact's *name* counts whole seconds, so when
    that run was read (``artifacts``, oldest first, start within its second) its ``checked_at``
    is used. A start rounded down by up to a second would expect one run too many whenever the
    report's instant lies within a second of the cron grid."""
    if first_name is None:
        return None
    if artifacts and artifacts[0].checked_at < first_name + timedelta(seconds=1):
        return artifacts[0].checked_at
    return first_name


def expected_runs(window: Window, interval: timedelta, monitoring_since: datetime | None) -> int:
    """How many runs cron should have made in the window, (start, end]: window ÷ interval,
    rounded down; from the first run on when monitoring began inside the window (that run
    included)."""
    start = window.start
    if monitoring_since is not None and monitoring_since > start:
        start = monitoring_since
    span = (window.end - start).total_seconds()
    if span <= 0:
        return 0
    # The first run at `start` counts too when monitoring began inside the window.
    runs = math.floor(span / interval.total_seconds() + 1e-9)
    return runs + (1 if start != window.start else 0)


def compute_uptime(
    artifacts: Sequence[ArtifactCore],
    window: Window,
    interval: timedelta,
    monitoring_since: datetime | None = None,
) -> Uptime:
    """``artifacts``: every artifact up to the window's end, oldest first (the window is applied
    here; the latest artifact gives the current state even when it is older than the window)."""
    inside = window.select(artifacts)
    up = sum(1 for artifact in inside if artifact.liveness == "up")
    down = sum(1 for artifact in inside if artifact.liveness == "down")
    latest = artifacts[-1] if artifacts else None
    last_success = next((a.checked_at for a in reversed(artifacts) if a.liveness == "up"), None)
    expected = expected_runs(window, interval, monitoring_since)
    coverage = None if expected == 0 else min(100.0, len(inside) / expected * 100)
    percent = None if up + down == 0 else up / (up + down) * 100
    current_error = None
    if latest is not None:
        check = latest.check("rails_health")
        current_error = check.error if check is not None else None
    return Uptime(
        current=latest.liveness if latest else "unknown",
        last_checked_at=latest.checked_at if latest else None,
        last_success_at=last_success,
        current_error=current_error,
        percent=percent,
        checks_up=up,
        checks_down=down,
        runs_seen=len(inside),
        expected_checks=expected,
        coverage_percent=coverage,
        status=uptime_colour(percent),
    )
