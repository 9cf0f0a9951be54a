"""``report`` over the shared store (issue #14): every location's runs of the window, the quorum's
uptime per slot, and the per-location summary of ``report --format json``.

psycopg is imported only when a store is configured (``chatwoot_health.store`` imports it
lazily). A store that cannot be read is one warning line; the report then reads the local files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.uptime import uptime_colour
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.report import LocationOut, UptimeOut
from chatwoot_health.quorum import by_location, known_since, slot_verdicts, votes


@dataclass(frozen=True)
class StoredWindow:
    runs: list[ArtifactCore]
    #: The store's first run (when monitoring began, as far as the store remembers).
    first_run_at: datetime | None


def read_store(dsn: str, start: datetime, end: datetime, detail_since: datetime) -> StoredWindow:
    """Every location's runs with ``start < checked_at <= end``, oldest first, of the instance
    of the latest run; raises ``StoreError`` (one line, no password)."""
    from chatwoot_health.store.db import connect
    from chatwoot_health.store.runs import first_run_at, read_runs

    connection = connect(dsn)
    try:
        runs = read_runs(connection, dsn, start, end, detail_since=detail_since)
        first = first_run_at(connection, dsn)
    finally:
        connection.close()
    if runs:  # one report is about one Chatwoot: the instance the latest run probed
        instance = runs[-1].instance
        runs = [run for run in runs if run.instance == instance]
    return StoredWindow(runs, first)


def several_locations(runs: Sequence[ArtifactCore], default: str) -> bool:
    return len({run.location or default for run in runs}) > 1


def quorum_uptime(
    uptime: UptimeOut,
    runs: Sequence[ArtifactCore],
    window: Window,
    interval: timedelta,
    default: str,
) -> UptimeOut:
    """``uptime`` (computed over every run) with its counts per slot of one interval decided
    by the quorum (:func:`quorum.slot_verdicts`): a slot is one expected check, up or down by the
    majority of the locations that ran in it, missing when none did; the current state is the
    known locations' vote."""
    count = max(1, int(-(-window.length // interval)))
    groups = by_location(window.select(runs), default)
    verdicts = slot_verdicts(groups, window.start, interval, count)
    up = verdicts.count("up")
    down = verdicts.count("down")
    voted = up + down
    expected = uptime.expected_checks
    coverage = None if expected == 0 else min(100.0, voted / expected * 100)
    percent = None if voted == 0 else up / voted * 100
    tally = votes(by_location(runs, default), window.end, interval)
    current = uptime.current
    if tally.voters:
        current = "down" if tally.majority_down else "up"
    return uptime.model_copy(
        update={
            "current": current,
            "percent": None if percent is None else round(percent, 3),
            "checks_up": up,
            "checks_down": down,
            "runs_seen": voted,
            "coverage_percent": None if coverage is None else round(coverage, 1),
            "status": uptime_colour(percent),
            "percent_exact": percent,
            "coverage_exact": coverage,
        }
    )


def locations_out(
    runs: Sequence[ArtifactCore], window: Window, interval: timedelta, default: str
) -> list[LocationOut]:
    """Each location's runs in the window, up and down, its latest run and its status: its
    latest judged verdict (up, down), unknown without one, silent when its latest run is older
    than the known locations' limit (3 intervals)."""
    limit = known_since(window.end, interval)
    everything: Mapping[str, Sequence[ArtifactCore]] = by_location(runs, default)
    found: list[LocationOut] = []
    for name, own in everything.items():
        inside = window.select(own)
        last = own[-1].checked_at if own else None
        judged = [run.liveness for run in own if run.liveness != "unknown"]
        status: Literal["up", "down", "unknown", "silent"] = judged[-1] if judged else "unknown"
        if last is None or last <= limit:
            status = "silent"
        found.append(
            LocationOut(
                name=name,
                runs=len(inside),
                up=sum(1 for run in inside if run.liveness == "up"),
                down=sum(1 for run in inside if run.liveness == "down"),
                last_run_at=last,
                status=status,
            )
        )
    return found
