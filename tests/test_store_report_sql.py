"""SQL and Python aggregations equal on the same runs (issue #14), on the real PostgreSQL.

The same runs of three locations — the demo's, with runs down, runs that could not judge
liveness, failed and skipped checks, two runs of a location in one slot, runs exactly on a
slot's edge, a location that begins late and gaps — go to each location's files and to the
store. The Python path reads the files and computes with the metric functions; the SQL path is
``report``'s (:func:`chatwoot_health.report.stored.read_store`). Uptime counts, the quorum's
slot verdicts, the timeline's bars, every percentile and the channels must agree, and
``percentile_cont`` must be the README's percentile definition.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.artifacts.store import read_window
from chatwoot_health.demo import Scenario, make_artifact
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels import compute_channels
from chatwoot_health.metrics.latency import compute_response_time
from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.metrics.uptime import compute_uptime
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.artifact import Artifact, CheckResult, RunStatus
from chatwoot_health.quorum import by_location, slot_bars, slot_verdicts
from chatwoot_health.report.build import timeline
from chatwoot_health.report.stored import StoredWindow, bar_step, read_store, slot_count
from tests.store_support import cli, store_as_check, store_dsn

__all__ = ["store_dsn"]
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=5)
LOCATIONS = ("east", "north", "west")
CALENDAR = BusinessCalendar(tz=ZoneInfo("UTC"))


def _vary(artifact: Artifact, rng: random.Random, location: str) -> Artifact:
    """Liveness down (8 %) or not judged (3 %), another check failed or skipped."""
    checks = list(artifact.checks)
    draw = rng.random()
    for index, check in enumerate(checks):
        if check.name == "rails_health" and draw < 0.08:
            checks[index] = CheckResult(
                name=check.name, ok=False, status_code=503, duration_ms=check.duration_ms,
                error="HTTP 503 from /health",
            )  # fmt: skip
        elif check.name == "rails_health" and draw < 0.11:
            checks[index] = CheckResult(name=check.name, ok=None, skipped=True, skip_reason="x")
        elif check.name != "rails_health" and rng.random() < 0.05:
            checks[index] = check.model_copy(update={"ok": False, "error": "timed out"})
        elif check.name != "rails_health" and rng.random() < 0.03:
            checks[index] = check.model_copy(update={"skipped": True})
    status = RunStatus.DOWN if draw < 0.08 else artifact.status
    return artifact.model_copy(update={"location": location, "checks": checks, "status": status})


def histories(end: datetime, days: float, seed: int) -> dict[str, list[Artifact]]:
    """Each location's runs up to ``end``, oldest first."""
    scenario = Scenario(end)
    rng = random.Random(seed)
    found: dict[str, list[Artifact]] = {}
    for number, location in enumerate(LOCATIONS):
        count = int(timedelta(days=days) / INTERVAL)
        first = {"west": count // 2}.get(location, 0)  # west begins halfway
        times: list[datetime] = []
        for i in range(first, count):
            edge = end - INTERVAL * (count - 1 - i)
            if location == "north" and i % 7 == 0:
                times.append(edge)  # exactly on a slot's edge: the slot that ends there
            elif rng.random() < 0.04:
                continue  # a missed run: coverage, not downtime
            else:
                times.append(edge - timedelta(seconds=rng.uniform(1, 290), microseconds=number))
            if location == "east" and i % 11 == 0:
                times.append(times[-1] - timedelta(seconds=rng.uniform(2, 9)))  # two in a slot
        runs = [
            _vary(make_artifact(t, scenario, rng, seed), rng, location)
            for t in sorted(time for time in times if time <= end)
        ]
        found[location] = runs
    return found


def put(dsn: str, root: Path, history: dict[str, list[Artifact]]) -> dict[str, Path]:
    """Each location's files, and the same runs in the store (named as their files)."""
    for location, artifacts in history.items():
        store_as_check(dsn, artifacts, root / location)
    return {location: root / location for location in history}


def from_files(
    directories: dict[str, Path], start: datetime, detail_since: datetime
) -> list[ArtifactCore]:
    """Every location's runs read from its files (the Python path), oldest first."""
    found: list[ArtifactCore] = []
    for directory in directories.values():
        read = read_window(directory, start, AT, detail_since=detail_since, index=False)
        assert not read.skipped
        found += read.artifacts
    return sorted(found, key=lambda run: run.checked_at)


def exactly(sql: float | None, python: float | None) -> None:
    assert (sql is None) == (python is None)
    if sql is not None and python is not None:
        assert math.isclose(sql, python, rel_tol=1e-12, abs_tol=1e-9), (sql, python)


@pytest.mark.postgres
@pytest.mark.parametrize("days", [2, 9])  # hourly bars; daily bars
def test_sql_and_python_aggregations_equal_on_the_same_runs(
    store_dsn: str, tmp_path: Path, days: int
) -> None:
    directories = put(store_dsn, tmp_path, histories(AT, days + 0.5, seed=days))
    window = Window.ending(AT, timedelta(days=days))
    start, detail_since = window.start - timedelta(hours=3), window.start - timedelta(hours=1)
    stored = read_store(store_dsn, start, AT, detail_since, window, INTERVAL)
    assert stored.rows is not None and stored.several
    python = from_files(directories, start, detail_since)
    groups = by_location(python, "here")
    assert [where.name for where in stored.rows.locations] == list(LOCATIONS)
    assert stored.found().read == len(python)

    # the quorum's verdict of every slot, and the timeline's bars that count them
    count = slot_count(window, INTERVAL)
    verdicts = slot_verdicts(groups, window.start, INTERVAL, count)
    assert stored.slots() == verdicts
    assert {"up", "down", "unknown"} <= set(verdicts)  # every kind of slot is exercised
    bars = slot_count(window, bar_step(window))
    assert stored.bars() == slot_bars(verdicts, INTERVAL, bar_step(window), bars)

    # each location's uptime counts, coverage and percentiles
    for where, out in zip(stored.rows.locations, stored.locations("here"), strict=True):
        own = groups[where.name]
        first = own[0].checked_at if own[0].checked_at > start else None
        uptime = compute_uptime(own, window, INTERVAL, first)
        assert (where.runs, where.up, where.down) == (
            uptime.runs_seen, uptime.checks_up, uptime.checks_down,
        )  # fmt: skip
        assert (out.percent, out.expected_checks, out.coverage_percent) == (
            uptime.percent, uptime.expected_checks, uptime.coverage_percent,
        )  # fmt: skip
        own_response = compute_response_time(own, window).overall
        assert out.response_time.model_dump() == own_response.model_dump()
        exactly(stored.rows.by_location[where.name].p90, own_response.p90_exact_ms)
    assert stored.locations("here")[2].expected_checks < count  # west began inside the window

    # every location's percentiles, pooled and per check: rounded alike, and exactly
    response = compute_response_time(python, window)
    sql = stored.response_time()
    assert sql.overall.model_dump() == response.overall.model_dump()
    assert {k: v.model_dump() for k, v in sql.by_check.items()} == {
        k: v.model_dump() for k, v in response.by_check.items()
    }
    samples = sorted(d for run in window.select(python) for _name, d in run.latencies)
    for p, value in ((50, stored.rows.overall.median), (90, stored.rows.overall.p90)):
        exactly(value, percentile(samples, p))
    exactly(stored.rows.overall.p99, percentile(samples, 99))

    # the timeline: each bar's median and P90 over every location's checks
    files_bars = timeline(python, window, INTERVAL)
    sql_bars = stored.timeline()
    assert [(b.median_ms, b.p90_ms) for b in sql_bars] == [
        (b.median_ms, b.p90_ms) for b in files_bars
    ]
    assert [(b.up, b.down) for b in sql_bars] == stored.bars()

    # the channels from the buckets merged in SQL
    channels = Window.ending(AT, timedelta(days=days))
    assert stored.channels(channels, AT, CALENDAR) == compute_channels(
        python, channels, AT, CALENDAR
    )


@pytest.mark.postgres
def test_percentile_cont_is_the_readmes_percentile(store_dsn: str) -> None:
    """PostgreSQL's ``percentile_cont`` and metrics/percentiles.py: one definition."""
    rng = random.Random(14)
    samples: list[list[float]] = [[7.0], [1.0, 2.0], [5.0, 5.0, 5.0, 9.0]]
    samples += [[round(rng.lognormvariate(5, 1), 1) for _ in range(n)] for n in (3, 10, 101, 997)]
    with psycopg.connect(store_dsn) as connection:
        for values in samples:
            for p in (0, 1, 25, 50, 90, 95, 99, 100):
                [(sql,)] = connection.execute(
                    "SELECT percentile_cont(%s::float8) WITHIN GROUP (ORDER BY v) "
                    "FROM unnest(%s::float8[]) AS v",
                    (p / 100, values),
                ).fetchall()
                exactly(sql, percentile(sorted(values), p))


@pytest.mark.postgres
def test_one_location_of_demo_runs_reports_alike_from_sql_and_files(
    store_dsn: str, tmp_path: Path
) -> None:
    """Every section over realistic runs (channels, alerts, percentiles, the timeline): the
    store's report of one location is the files' one, byte for byte."""
    history = histories(AT, 3, seed=3)
    directories = put(store_dsn, tmp_path, {"east": history["east"]})
    env = {"CHATWOOT_HEALTH_LOCATION": "east"}
    args = ["report", "--artifacts-dir", str(directories["east"]), "--at", AT.isoformat()]
    args += ["--window", "2d", "--format", "json"]
    files = cli(*args, env=env)
    store = cli(*args, env={**env, "CHATWOOT_HEALTH_STORE": store_dsn})
    assert store.stderr == files.stderr
    assert (store.code, store.stdout) == (files.code, files.stdout)
    data = json.loads(store.stdout)
    assert data["channels"] and data["response_time"]["samples"] > 0


def _silent(stored: StoredWindow) -> Sequence[str]:
    return [w.name for w in stored.locations("here") if w.status == "silent"]


@pytest.mark.postgres
def test_a_silent_location_still_counts_and_is_named(store_dsn: str, tmp_path: Path) -> None:
    """A location whose latest run is older than the alert rules' tail still has its row and
    its status, and the report raises probe_host_silent for it."""
    history = histories(AT, 2, seed=5)
    history["west"] = [run for run in history["west"] if run.checked_at < AT - timedelta(hours=6)]
    directories = put(store_dsn, tmp_path, history)
    window = Window.ending(AT, timedelta(days=1))
    stored = read_store(store_dsn, window.start, AT, window.start, window, INTERVAL)
    assert _silent(stored) == ["west"]
    assert any(run.location == "west" for run in stored.runs)  # its latest run, decoded
    done = cli(
        "report", "--artifacts-dir", str(directories["east"]), "--at", AT.isoformat(),
        "--window", "1d", "--format", "json", env={"CHATWOOT_HEALTH_STORE": store_dsn},
    )  # fmt: skip
    alerts = {alert["name"] for alert in json.loads(done.stdout)["alerts"]}
    assert "probe_host_silent" in alerts


@pytest.mark.postgres
def test_runs_of_a_shape_this_tool_cannot_read_are_left_out(store_dsn: str, tmp_path: Path) -> None:
    """Rows written by another tool (or by hand): a bucket with a bad hour or inbox, checks that
    are not a list — the report leaves them out (as it skips such a file), no traceback."""
    history = histories(AT, 1, seed=9)
    directories = put(store_dsn, tmp_path, {"east": history["east"]})
    with psycopg.connect(store_dsn, autocommit=True) as connection:
        changed = connection.execute(
            "UPDATE health_runs SET artifact = CASE WHEN extract(minute FROM checked_at) < 20 "
            "THEN jsonb_set(jsonb_set(artifact, '{inbox_activity,0,hour}', '\"never\"'), "
            "'{inbox_activity,1,inbox_id}', '\"x\"') ELSE jsonb_set(artifact, '{checks}', "
            "'\"oops\"') END WHERE checked_at > %s",
            (AT - timedelta(hours=2),),
        ).rowcount
    assert changed > 12
    done = cli(
        "report", "--artifacts-dir", str(directories["east"]), "--at", AT.isoformat(),
        "--window", "1d", "--format", "json", env={"CHATWOOT_HEALTH_STORE": store_dsn},
    )  # fmt: skip
    assert done.code in (0, 1, 2) and "Traceback" not in done.stderr, done.output
    assert "local files" not in done.stderr  # read from the store, not its fallback
    data = json.loads(done.stdout)
    assert data["channels"] and data["response_time"]["samples"] > 0
