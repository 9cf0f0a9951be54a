"""Uptime: up ÷ (up + down) runs, with missing runs counted as neither (coverage instead)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import attrgetter

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.report import UptimeOut
from chatwoot_health.state import Colour
from chatwoot_health.thresholds import UPTIME_TARGET_PERCENT, UPTIME_YELLOW_PERCENT
from chatwoot_health.timeutil import humanize_age

_LIVENESS = attrgetter("liveness")


def uptime_colour(percent: float | None) -> Colour:
    if percent is None:
        return Colour.GREY
    if percent >= UPTIME_TARGET_PERCENT:
        return Colour.GREEN
    if percent >= UPTIME_YELLOW_PERCENT:
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
) -> UptimeOut:
    """``artifacts``: every artifact up to the window's end, oldest first (the window is applied
    here; the latest artifact gives the current state even when it is older than the window).
    The window's end is the report's instant."""
    inside = window.select(artifacts)
    states = list(map(_LIVENESS, inside))  # one pass at C speed, counted twice
    up, down = states.count("up"), states.count("down")
    latest = artifacts[-1] if artifacts else None
    last_success = next((a.checked_at for a in reversed(artifacts) if a.liveness == "up"), None)
    expected = expected_runs(window, interval, monitoring_since)
    coverage = None if expected == 0 else min(100.0, len(inside) / expected * 100)
    percent = None if up + down == 0 else up / (up + down) * 100
    current_error = None
    if latest is not None:
        check = latest.check("rails_health")
        current_error = check.error if check is not None else None
    return UptimeOut(
        current=latest.liveness if latest else "unknown",
        last_checked_at=latest.checked_at if latest else None,
        last_checked_ago=humanize_age(window.end - latest.checked_at) if latest else None,
        last_success_at=last_success,
        error=current_error,
        percent=None if percent is None else round(percent, 3),
        checks_up=up,
        checks_down=down,
        runs_seen=len(inside),
        expected_checks=expected,
        coverage_percent=None if coverage is None else round(coverage, 1),
        status=uptime_colour(percent),
        window=window.out(),
        percent_exact=percent,
        coverage_exact=coverage,
    )
