"""ALL of the runs' SQL: write a run (and the backlog), read a window, aggregate in SQL, prune.

``health_runs`` holds each run's artifact as ``jsonb`` beside the columns the queries need. A
write is one transaction — :func:`prepare` (the month's partition, the schema version) and the
inserts, ``ON CONFLICT DO NOTHING`` on the artifact id, so a run sent twice (a retry, a backlog
that was in fact stored) is stored once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec

from chatwoot_health.artifacts.fast import (
    DETAILED_DECODER,
    RECORD_DECODER,
    ArtifactCore,
)
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.store.db import check_version, error

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[object, ...]]

_PARTITION = re.compile(r"^health_runs_(\d{4})m(\d{2})$")


@dataclass(frozen=True)
class StoredRun:
    """One run as the store keeps it."""

    artifact_id: str  # the artifact file's name without ``.json``
    artifact: Artifact
    location: str  # the artifact's own, or this host's for an artifact without one

    @classmethod
    def of(cls, name: str, artifact: Artifact, default_location: str) -> StoredRun:
        return cls(name.removesuffix(".json"), artifact, artifact.location or default_location)


def write_runs(connection: Connection, dsn: str, runs: Sequence[StoredRun]) -> int:
    """Store ``runs`` in one transaction; how many were new. Raises ``StoreError``."""
    import psycopg

    if not runs:
        return 0
    months = sorted({run.artifact.checked_at for run in runs})
    try:
        with connection.transaction():
            for moment in (months[0], months[-1]) if len(months) > 1 else months[:1]:
                row = connection.execute("SELECT chatwoot_health_prepare(%s)", (moment,)).fetchone()
                check_version(row[0] if row else None, dsn)
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO health_runs (artifact_id, checked_at, instance, location, status, "
                    "liveness, artifact) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb) "
                    "ON CONFLICT DO NOTHING",
                    [
                        (
                            run.artifact_id,
                            run.artifact.checked_at,
                            run.artifact.instance,
                            run.location,
                            run.artifact.status.value,
                            run.artifact.liveness,
                            run.artifact.to_json(),
                        )
                        for run in runs
                    ],
                )
                added = cursor.rowcount
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot write to") from None
    return max(added, 0)


def read_runs(
    connection: Connection,
    dsn: str,
    start: datetime,
    end: datetime,
    *,
    instance: str | None = None,
    detail_since: datetime | None = None,
    exclude_location: str | None = None,
) -> list[ArtifactCore]:
    """Every location's runs with ``start < checked_at <= end`` (of ``instance``, or all),
    oldest first, decoded like files (with per-inbox buckets from ``detail_since`` on)."""
    import psycopg

    try:
        rows = connection.execute(
            "SELECT checked_at, artifact::text FROM health_runs "
            "WHERE checked_at > %s AND checked_at <= %s AND (%s::text IS NULL OR instance = %s) "
            "AND (%s::text IS NULL OR location <> %s) ORDER BY checked_at, artifact_id",
            (start, end, instance, instance, exclude_location, exclude_location),
        ).fetchall()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    runs: list[ArtifactCore] = []
    for checked_at, text in rows:
        assert isinstance(checked_at, datetime) and isinstance(text, str)
        detailed = detail_since is None or checked_at >= detail_since
        try:
            runs.append((DETAILED_DECODER if detailed else RECORD_DECODER).decode(text))
        except msgspec.DecodeError:
            continue  # written by a newer tool in a shape this one cannot read
    return runs


def first_run_at(connection: Connection, dsn: str) -> datetime | None:
    """The store's oldest run (every instance and location), or None when it holds none."""
    import psycopg

    try:
        row = connection.execute("SELECT min(checked_at) FROM health_runs").fetchone()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    return row[0] if row and isinstance(row[0], datetime) else None


def last_seen(
    connection: Connection, dsn: str, instance: str, start: datetime, end: datetime
) -> dict[str, datetime]:
    """Each location's latest run of ``instance`` in (start, end]."""
    import psycopg

    try:
        rows = connection.execute(
            "SELECT location, max(checked_at) FROM health_runs WHERE instance = %s "
            "AND checked_at > %s AND checked_at <= %s GROUP BY location",
            (instance, start, end),
        ).fetchall()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    return {str(name): moment for name, moment in rows if isinstance(moment, datetime)}


@dataclass(frozen=True)
class SlotCounts:
    """One time slot of one location: its runs judged up and down."""

    slot: int
    location: str
    up: int
    down: int


def slot_counts(
    connection: Connection, dsn: str, instance: str, start: datetime, end: datetime, step: timedelta
) -> list[SlotCounts]:
    """Up and down runs per (slot, location), slots of ``step`` from ``start``, counted in SQL."""
    import psycopg

    try:
        rows = connection.execute(
            "SELECT floor(extract(epoch FROM checked_at - %s) / %s)::int AS slot, location, "
            "count(*) FILTER (WHERE liveness = 'up'), count(*) FILTER (WHERE liveness = 'down') "
            "FROM health_runs WHERE instance = %s AND checked_at > %s AND checked_at <= %s "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            (start, step.total_seconds(), instance, start, end),
        ).fetchall()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    return [SlotCounts(int(s), str(loc), int(u), int(d)) for s, loc, u, d in rows]  # type: ignore[call-overload]


def latency_percentiles(
    connection: Connection,
    dsn: str,
    instance: str,
    start: datetime,
    end: datetime,
    location: str | None = None,
) -> tuple[int, float | None, float | None, float | None]:
    """(samples, median, P90, P99) of the successful checks' ``duration_ms`` in the window, by
    ``percentile_cont`` — the README's percentile (linear between closest ranks)."""
    import psycopg

    try:
        row = connection.execute(
            "SELECT count(*), percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY d) "
            "FROM (SELECT (c->>'duration_ms')::float8 AS d FROM health_runs, "
            "jsonb_array_elements(artifact->'checks') AS c "
            "WHERE instance = %s AND checked_at > %s AND checked_at <= %s "
            "AND (%s::text IS NULL OR location = %s) "
            "AND c->>'ok' = 'true' AND coalesce((c->>'skipped')::boolean, false) = false "
            "AND jsonb_typeof(c->'duration_ms') = 'number') AS samples",
            (instance, start, end, location, location),
        ).fetchone()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    assert row is not None
    samples, values = row
    assert isinstance(samples, int)
    if not samples or not isinstance(values, list):
        return 0, None, None, None
    median, p90, p99 = (float(v) for v in values)
    return samples, median, p90, p99


def partitions(connection: Connection, dsn: str) -> list[tuple[str, datetime]]:
    """The monthly partitions (name, first instant), oldest first."""
    import psycopg

    try:
        rows = connection.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'health_runs'::regclass"
        ).fetchall()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    found: list[tuple[str, datetime]] = []
    for (name,) in rows:
        match = _PARTITION.match(str(name))
        if match:
            found.append((str(name), datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)))
    return sorted(found, key=lambda item: item[1])


def _next_month(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


@dataclass(frozen=True)
class PruneResult:
    dropped: list[str]
    #: Rows deleted from the default partition (runs that landed before their month existed).
    deleted: int


def prune(connection: Connection, dsn: str, before: datetime, dry_run: bool) -> PruneResult:
    """Drop every monthly partition that ends at or before ``before`` (whole months only: a month
    partly younger is kept), and delete older rows from the default partition."""
    import psycopg
    from psycopg import sql

    old = [name for name, first in partitions(connection, dsn) if _next_month(first) <= before]
    if dry_run:
        row = connection.execute(
            "SELECT count(*) FROM health_runs_default WHERE checked_at <= %s", (before,)
        ).fetchone()
        return PruneResult(old, int(row[0]) if row and isinstance(row[0], int) else 0)
    try:
        with connection.transaction():
            for name in old:
                connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            deleted = connection.execute(
                "DELETE FROM health_runs_default WHERE checked_at <= %s", (before,)
            ).rowcount
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot prune") from None
    return PruneResult(old, max(deleted, 0))


def size_bytes(connection: Connection) -> int:
    """The runs' size on disk, every partition and index included."""
    row = connection.execute(
        "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::bigint FROM pg_inherits i "
        "WHERE i.inhparent = 'health_runs'::regclass"
    ).fetchone()
    return int(row[0]) if row and isinstance(row[0], int | float) else 0
