"""The store's SQL against a real PostgreSQL: migration, partitions, prune, the aggregations (SQL
and Python give the same numbers), and the quorum's pure rules."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from chatwoot_health.alerts import quorum_alerts
from chatwoot_health.config import ConfigError, resolve
from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.models.artifact import Artifact, CheckResult, RunStatus
from chatwoot_health.quorum import by_location, slot_verdicts, votes
from chatwoot_health.store import db, runs
from chatwoot_health.store.runs import StoredRun
from tests.store_support import PASSWORD, cli, store_dsn

__all__ = ["store_dsn"]
ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def run(at: datetime, location: str, up: bool = True, ms: float = 100.0) -> Artifact:
    return Artifact(
        checked_at=at,
        status=RunStatus.OK if up else RunStatus.DOWN,
        instance="https://chat.example.com",
        checks=[
            CheckResult(name="rails_health", ok=up, status_code=200 if up else 503, duration_ms=ms),
            CheckResult(name="profile", ok=True, duration_ms=ms * 2),
            CheckResult(name="agent_sdk", ok=None, skipped=True, duration_ms=5.0),
        ],
        tool_version="0.1.0",
        location=location,
    )


def stored(at: datetime, location: str, **kwargs: object) -> StoredRun:
    name = f"{at:%Y%m%dT%H%M%SZ}-{location}{random.randrange(16**6):06x}"
    return StoredRun(name, run(at, location, **kwargs), location)  # type: ignore[arg-type]


def test_the_migration_file_is_the_packaged_schema() -> None:
    shipped = ROOT / "supabase" / "migrations" / "20261201000000_health_runs.sql"
    assert shipped.read_text() == db.schema_sql()


@pytest.mark.postgres
def test_migrate_is_idempotent_and_never_shows_the_password(store_dsn: str) -> None:
    for _ in range(2):
        done = cli("store", "migrate", env={"CHATWOOT_HEALTH_STORE": store_dsn})
        assert done.code == 0, done.output
        assert "postgresql://***@127.0.0.1:" in done.stdout
    assert db.migrate(store_dsn) == db.SCHEMA_VERSION


@pytest.mark.postgres
def test_an_unreachable_store_is_one_line_exit_3() -> None:
    dsn = f"postgresql://u:{PASSWORD}@127.0.0.1:1/x"
    done = cli("store", "migrate", env={"CHATWOOT_HEALTH_STORE": dsn})
    assert done.code == 3
    [line] = done.stderr.splitlines()
    assert line.startswith("chatwoot-health: cannot connect to the store postgresql://***@")


def test_a_bad_store_url_never_echoes_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({}, env={"CHATWOOT_HEALTH_STORE": f"mysql://u:{PASSWORD}@h/db"}, keys=("store",))
    assert PASSWORD not in str(caught.value)
    assert "CHATWOOT_HEALTH_STORE" in str(caught.value)


@pytest.mark.postgres
def test_runs_land_in_monthly_partitions_and_prune_drops_whole_months(store_dsn: str) -> None:
    db.migrate(store_dsn)
    connection = db.connect(store_dsn)
    # A run written while only the default partition holds its month is moved out of it.
    connection.execute(
        "INSERT INTO health_runs_default (artifact_id, checked_at, instance, location, status, "
        "liveness, artifact) VALUES ('early', '2026-08-15T00:00:00Z', 'i', 'a', 'ok', 'up', '{}')"
    )
    months = [datetime(2026, m, 10, tzinfo=UTC) for m in (8, 9, 10, 11)]
    batch = [stored(at, "a") for at in months]
    assert runs.write_runs(connection, store_dsn, batch) == 4
    assert runs.write_runs(connection, store_dsn, batch) == 0  # a resend stores nothing twice
    names = [name for name, _first in runs.partitions(connection, store_dsn)]
    assert {"health_runs_2026m08", "health_runs_2026m11", "health_runs_2026m12"} <= set(names)
    where = connection.execute(
        "SELECT tableoid::regclass::text FROM health_runs WHERE artifact_id = 'early'"
    ).fetchone()
    assert where == ("health_runs_2026m08",)
    result = runs.prune(connection, store_dsn, datetime(2026, 10, 5, tzinfo=UTC), dry_run=False)
    assert "health_runs_2026m08" in result.dropped and "health_runs_2026m09" in result.dropped
    assert "health_runs_2026m10" not in result.dropped  # partly younger than the cut: kept
    left = connection.execute("SELECT count(*) FROM health_runs").fetchone()
    assert left == (2,)
    connection.close()


@pytest.mark.postgres
def test_sql_and_python_aggregations_agree(store_dsn: str) -> None:
    db.migrate(store_dsn)
    connection = db.connect(store_dsn)
    rng = random.Random(14)
    batch = [
        stored(
            T0 + timedelta(minutes=5 * i),
            "abc"[i % 3],
            up=rng.random() > 0.1,
            ms=round(rng.lognormvariate(5, 0.6), 1),
        )
        for i in range(600)
    ]
    runs.write_runs(connection, store_dsn, batch)
    start, end = T0 - timedelta(seconds=1), T0 + timedelta(days=3)
    step = timedelta(hours=1)
    rows = report_rows(connection, store_dsn, start, end, step)
    assert rows is not None
    read = runs.read_runs(connection, store_dsn, start, end)
    assert len(read) == 600
    # the percentiles, pooled and per location: percentile_cont is the README's percentile
    pooled = sorted(d for item in batch for _name, d in item.artifact.latencies)
    groups = [(rows.overall, pooled)]
    for where in "abc":
        own = sorted(d for r in read if r.location == where for _name, d in r.latencies)
        groups.append((rows.by_location[where], own))
    for found, values in groups:
        assert found.samples == len(values)
        for got, p in ((found.median, 50), (found.p90, 90), (found.p99, 99)):
            assert got == pytest.approx(percentile(values, p), rel=1e-12)
    # runs up and down per bar of the timeline and per location, counted in SQL
    up = Counter(int((r.checked_at - start) // step) for r in read if r.liveness == "up")
    down = Counter(int((r.checked_at - start) // step) for r in read if r.liveness == "down")
    assert rows.bars == {bar: (up[bar], down[bar]) for bar in up | down}
    assert sum(u + d for u, d in rows.bars.values()) == 600
    up_at = Counter(r.location for r in read if r.liveness == "up")
    down_at = Counter(r.location for r in read if r.liveness == "down")
    assert [(w.name, w.up, w.down) for w in rows.locations] == [
        (name, up_at[name], down_at[name]) for name in "abc"
    ]
    connection.close()


def report_rows(
    connection: psycopg.Connection[tuple[object, ...]],
    dsn: str,
    start: datetime,
    end: datetime,
    bar: timedelta,
) -> runs.ReportRows | None:
    """``report``'s reads over (start, end], the window the whole reach, bars of ``bar``."""
    query = runs.ReportQuery(
        start=start, end=end, window=start, slot=INTERVAL, bar=bar, bars=-(-(end - start) // bar),
        detail_since=end, lookback=timedelta(hours=1),
    )  # fmt: skip
    return runs.read_report(connection, dsn, query)


@pytest.mark.postgres
def test_an_older_schema_asks_for_a_migration(store_dsn: str) -> None:
    db.migrate(store_dsn)
    with psycopg.connect(store_dsn, autocommit=True) as connection:
        connection.execute("UPDATE chatwoot_health_schema SET version = 0")
    connection2 = db.connect(store_dsn)
    with pytest.raises(db.SchemaMissing, match="older chatwoot-health schema"):
        runs.write_runs(connection2, store_dsn, [stored(T0, "a")])
    connection2.close()


# --------------------------------------------------------------------------- the quorum, pure

INTERVAL = timedelta(minutes=5)
DOWN_AFTER = timedelta(minutes=2)


def history(pattern: dict[str, str], rounds_start: datetime = T0) -> list[Artifact]:
    """``{"a": "uuD", …}``: one run per round and location, a second apart within a round;
    ``D`` a run down with a failure confirmed over DOWN_AFTER (a run two minutes later)."""
    found: list[Artifact] = []
    for index, location in enumerate(sorted(pattern)):
        for step, mark in enumerate(pattern[location]):
            at = rounds_start + INTERVAL * step + timedelta(seconds=index)
            if mark == "D":
                found.append(run(at - DOWN_AFTER, location, up=False))
            found.append(run(at, location, up=mark == "u"))
    return sorted(found, key=lambda a: a.checked_at)


def judge(pattern: dict[str, str]) -> list[str]:
    found = history(pattern)
    now = max(a.checked_at for a in found)
    groups = by_location(found, "a")
    return [alert.name for alert in quorum_alerts(groups, now, INTERVAL, DOWN_AFTER)]


def test_a_majority_of_locations_is_an_outage() -> None:
    assert judge({"a": "uuD", "b": "uuD", "c": "uuu"}) == ["service_down"]
    assert judge({"a": "uuD", "b": "uuD", "c": "uuD"}) == ["service_down"]


def test_one_location_first_in_its_round_never_pages() -> None:
    assert judge({"a": "uuD", "b": "uu", "c": "uu"}) == []


def test_one_failing_location_while_the_others_succeed_is_degraded() -> None:
    assert judge({"a": "uDD", "b": "uuu", "c": "uuu"}) == ["location_degraded"]


def test_two_of_four_is_not_a_majority() -> None:
    names = judge({"a": "uDD", "b": "uDD", "c": "uuu", "d": "uuu"})
    assert "service_down" not in names


def test_a_silent_location_is_named() -> None:
    found = history({"a": "uuuuu", "b": "uuuuu", "c": "u"})
    now = max(a.checked_at for a in found)
    tally = votes(by_location(found, "a"), now, INTERVAL)
    assert [name for name, _last in tally.silent] == ["c"]
    alerts = quorum_alerts(by_location(found, "a"), now, INTERVAL, DOWN_AFTER)
    assert [a.name for a in alerts] == ["probe_host_silent"]
    assert "No run from c" in alerts[0].message


def test_each_slot_is_decided_by_the_same_votes() -> None:
    found = history({"a": "uDu", "b": "uDu", "c": "uuu"})
    groups = by_location(found, "a")
    # (T0-1m, T0+4m]: a and b's latest runs there are down (their re-probes at T0+3m), c up
    slots = slot_verdicts(groups, T0 - timedelta(minutes=1), INTERVAL, 4)
    assert slots == ["down", "down", "up", "unknown"]


@pytest.mark.postgres
def test_prune_drops_the_stores_old_months(store_dsn: str, tmp_path: Path) -> None:
    db.migrate(store_dsn)
    connection = db.connect(store_dsn)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    runs.write_runs(connection, store_dsn, [stored(long_ago, "a"), stored(T0, "a")])
    month = f"health_runs_{long_ago:%Y}m{long_ago:%m}"
    env = {"CHATWOOT_HEALTH_STORE": store_dsn, "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(tmp_path)}
    dry = cli("prune", "--older-than", "90d", "--dry-run", env=env)
    assert dry.code == 0 and f"would drop {month}" in dry.stdout, dry.output
    done = cli("prune", "--older-than", "90d", env=env)
    assert done.code == 0 and f"dropped {month}" in done.stdout, done.output
    assert month not in [name for name, _ in runs.partitions(connection, store_dsn)]
    connection.close()


@pytest.mark.postgres
def test_a_dry_run_prune_that_cannot_count_is_one_line(store_dsn: str, tmp_path: Path) -> None:
    """The dry run's count of the default partition fails like the prune itself: a StoreError
    (one line and an exit code), never a psycopg traceback."""
    db.migrate(store_dsn)
    with psycopg.connect(store_dsn, autocommit=True) as connection:
        connection.execute("DROP TABLE health_runs_default")
    env = {"CHATWOOT_HEALTH_STORE": store_dsn, "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(tmp_path)}
    dry = cli("prune", "--older-than", "90d", "--dry-run", env=env)
    assert dry.code == 3 and "Traceback" not in dry.output, dry.output
    assert dry.stderr.strip().splitlines() == [
        f"chatwoot-health: the store {db.describe(store_dsn)} has no chatwoot-health schema: "
        "run `chatwoot-health store migrate`"
    ]


@pytest.mark.postgres
def test_a_newer_schema_stores_nothing_though_the_inserts_went_with_the_version(
    store_dsn: str,
) -> None:
    """The write sends the version's query and the inserts in one pipeline: a version this code
    does not know rolls the inserts back."""
    db.migrate(store_dsn)
    with psycopg.connect(store_dsn, autocommit=True) as connection:
        connection.execute("UPDATE chatwoot_health_schema SET version = 99")
    writer = db.connect(store_dsn)
    try:
        with pytest.raises(db.StoreError, match="newer chatwoot-health") as raised:
            runs.write_runs(writer, store_dsn, [stored(T0, "a"), stored(T0 + INTERVAL, "b")])
        assert PASSWORD not in str(raised.value)
        assert writer.execute("SELECT count(*) FROM health_runs").fetchone() == (0,)
        writer.execute("UPDATE chatwoot_health_schema SET version = 1")
        assert runs.write_runs(writer, store_dsn, [stored(T0, "a")]) == 1  # usable again
    finally:
        writer.close()


@pytest.mark.postgres
def test_the_quorums_read_in_one_pipeline_equals_the_two_reads(store_dsn: str) -> None:
    db.migrate(store_dsn)
    connection = db.connect(store_dsn)
    try:
        batch = [stored(T0 + INTERVAL * i, "abc"[i % 3], up=i % 4 != 0) for i in range(30)]
        runs.write_runs(connection, store_dsn, batch)
        end, instance = T0 + INTERVAL * 20, "https://chat.example.com"
        since, seen_since = end - timedelta(hours=1), end - timedelta(days=7)
        others, seen = runs.read_peers(connection, store_dsn, instance, "a", since, seen_since, end)
        assert others == runs.read_runs(
            connection, store_dsn, since, end, instance=instance, exclude_location="a",
            detail_since=end + timedelta(days=1),
        )  # fmt: skip
        assert {run.location for run in others} == {"b", "c"} and len(others) == 8
        latest = report_rows(connection, store_dsn, seen_since, end, timedelta(hours=1))
        assert latest is not None  # each location's latest run, as the report reads it
        assert seen == {where.name: where.last_run_at for where in latest.locations}
        assert seen == {"a": T0 + INTERVAL * 18, "b": T0 + INTERVAL * 19, "c": T0 + INTERVAL * 20}
        assert runs.read_peers(connection, store_dsn, "elsewhere", "a", since, seen_since, end) == (
            [],
            {},
        )
    finally:
        connection.close()


def test_checks_write_path_leaves_the_reports_queries_out() -> None:
    """A check with a store imports store.send and store.write, never store.runs (the report's
    queries and dataclasses) unless its alert step reads the quorum."""
    import subprocess
    import sys

    code = (
        "import sys; import chatwoot_health.store.send; "
        "print('chatwoot_health.store.runs' in sys.modules, 'psycopg' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split() == ["False", "False"]
