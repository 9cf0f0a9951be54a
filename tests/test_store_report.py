"""``report`` over the shared store (issue #14) against a real PostgreSQL: three locations' runs →
the ``locations`` key and the quorum's uptime per slot; one location → the same JSON as from the
files; an unreachable store → one warning line and the local files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatwoot_health.artifacts.store import write_artifact
from chatwoot_health.models.artifact import Artifact, CheckResult, RunStatus
from chatwoot_health.store import db, runs
from tests.store_support import PASSWORD, cli, store_as_check, store_dsn

__all__ = ["store_dsn"]
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
START = AT - timedelta(hours=2)
STEP = timedelta(minutes=5)
SLOTS = 24


def run(at: datetime, location: str | None, up: bool) -> Artifact:
    return Artifact(
        checked_at=at,
        status=RunStatus.OK if up else RunStatus.DOWN,
        instance="https://chat.example.com",
        checks=[
            CheckResult(name="rails_health", ok=up, status_code=200 if up else 503, duration_ms=90)
        ],
        tool_version="0.1.0",
        location=location,
    )


def history(location: str | None, up: bool | None = None) -> list[Artifact]:
    """One run per slot; ``up`` None: up except slots 10 and 11."""
    offset = timedelta(minutes=1, seconds=10 * len(location or ""))
    return [
        run(START + STEP * i + offset, location, up if up is not None else i not in (10, 11))
        for i in range(SLOTS)
    ]


def store(dsn: str, artifacts: list[Artifact], tmp_path: Path) -> None:
    store_as_check(dsn, artifacts, tmp_path / "written")


def report(directory: Path, dsn: str | None) -> tuple[int, dict[str, object], str]:
    env = {"CHATWOOT_HEALTH_LOCATION": "here"}
    if dsn is not None:
        env["CHATWOOT_HEALTH_STORE"] = dsn
    done = cli(
        "report", "--artifacts-dir", str(directory), "--at", AT.isoformat(), "--window", "2h",
        "--format", "json", env=env,
    )  # fmt: skip
    assert done.code in (0, 1, 2), done.output
    return done.code, json.loads(done.stdout), done.stderr


@pytest.mark.postgres
def test_three_locations_in_the_store_give_locations_and_the_quorums_uptime(
    store_dsn: str, tmp_path: Path
) -> None:
    # a and b reach Chatwoot except in slots 10 and 11; c never does (its own network)
    store(store_dsn, [*history("a"), *history("bb"), *history("ccc", up=False)], tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    _code, data, stderr = report(empty, store_dsn)
    assert stderr == ""
    uptime = data["uptime"]
    assert isinstance(uptime, dict)
    # one verdict per 5-minute slot: 2 of 3 up → up; 3 of 3 down → down
    assert (uptime["checks_up"], uptime["checks_down"], uptime["runs_seen"]) == (22, 2, 24)
    assert uptime["expected_checks"] == 24
    assert uptime["percent"] == round(22 / 24 * 100, 3)
    assert uptime["coverage_percent"] == 100.0
    assert uptime["current"] == "up"
    # each location's own uptime, coverage and percentiles (its runs, as one location counts)
    timed = {"median_ms": 90.0, "p90_ms": 90.0, "p99_ms": None, "samples": 22}
    untimed = {"median_ms": None, "p90_ms": None, "p99_ms": None, "samples": 0}
    assert data["locations"] == [
        {"name": "a", "runs": 24, "up": 22, "down": 2,
         "last_run_at": "2026-11-27T11:56:10.000Z", "status": "up", "percent": 91.667,
         "expected_checks": 24, "coverage_percent": 100.0, "response_time": timed},
        {"name": "bb", "runs": 24, "up": 22, "down": 2,
         "last_run_at": "2026-11-27T11:56:20.000Z", "status": "up", "percent": 91.667,
         "expected_checks": 24, "coverage_percent": 100.0, "response_time": timed},
        {"name": "ccc", "runs": 24, "up": 0, "down": 24,
         "last_run_at": "2026-11-27T11:56:30.000Z", "status": "down", "percent": 0.0,
         "expected_checks": 24, "coverage_percent": 100.0, "response_time": untimed},
    ]  # fmt: skip
    # the timeline's bars count the quorum's slots too: 12 an hour, slots 10 and 11 down
    timeline = data["timeline"]
    assert isinstance(timeline, list)
    bars = [(bar["up"], bar["down"], bar["expected"]) for bar in timeline]
    assert bars == [(10, 2, 12), (12, 0, 12)]
    assert data["response_time"]["samples"] == 44  # type: ignore[index]
    alerts = {alert["name"] for alert in data["alerts"]}  # type: ignore[attr-defined]
    assert "service_down" not in alerts
    assert "location_degraded" in alerts


@pytest.mark.postgres
def test_one_location_from_the_store_is_the_files_report_byte_for_byte(
    store_dsn: str, tmp_path: Path
) -> None:
    artifacts = history(None)
    files = tmp_path / "files"
    for artifact in artifacts:
        write_artifact(files, artifact)
    store(store_dsn, artifacts, tmp_path)
    from_files = report(files, None)
    from_store = report(files, store_dsn)
    assert "locations" not in from_store[1]
    assert from_store == from_files


@pytest.mark.postgres
def test_an_unreachable_store_is_one_warning_line_and_the_files(tmp_path: Path) -> None:
    files = tmp_path / "files"
    for artifact in history(None):
        write_artifact(files, artifact)
    expected = report(files, None)
    code, data, stderr = report(files, f"postgresql://u:{PASSWORD}@127.0.0.1:1/x")
    [line] = stderr.splitlines()
    assert line.startswith(
        "chatwoot-health: cannot connect to the store postgresql://***@127.0.0.1:1"
    )
    assert line.endswith(f"; reporting from the local files in {files}")
    assert (code, data) == expected[:2]
    assert "locations" not in data


@pytest.mark.postgres
def test_the_stores_size_counts_its_partitions(store_dsn: str, tmp_path: Path) -> None:
    store(store_dsn, history("a"), tmp_path)
    connection = db.connect(store_dsn)
    try:
        assert runs.size_bytes(connection) > 8192  # sum() is numeric: read as a number, not 0
    finally:
        connection.close()
