"""The runs' SQL: read a window, aggregate in SQL, prune; the write is :mod:`.write`'s.

``health_runs`` holds each run's artifact as ``jsonb`` beside the columns the queries need. A
write (:func:`~chatwoot_health.store.write.write_runs`, re-exported here) is one transaction —
``chatwoot_health_prepare`` (the month's partition, the schema version) and the inserts, ``ON
CONFLICT DO NOTHING`` on the artifact id, so a run sent twice is stored once. ``check`` imports
:mod:`.write` alone; this module's dataclasses are the report's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from chatwoot_health.artifacts.fast import (
    DETAILED_DECODER,
    RECORD_DECODER,
    ArtifactCore,
    InboxHourRecord,
)
from chatwoot_health.store.db import error
from chatwoot_health.store.write import StoredRun as StoredRun  # re-exported: the write path
from chatwoot_health.store.write import write_runs as write_runs
from chatwoot_health.thresholds import AGENT_OFFLINE_RUNS, HIGH_QUEUE_PENDING
from chatwoot_health.timeutil import in_range

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[object, ...]]

_PARTITION = re.compile(r"^health_runs_(\d{4})m(\d{2})$")


_RUNS = (
    "SELECT checked_at, artifact::text FROM health_runs "
    "WHERE checked_at > %s AND checked_at <= %s AND (%s::text IS NULL OR instance = %s) "
    "AND (%s::text IS NULL OR location <> %s) ORDER BY checked_at, artifact_id"
)
_SEEN = (
    "SELECT location, max(checked_at) FROM health_runs WHERE instance = %s "
    "AND checked_at > %s AND checked_at <= %s GROUP BY location"
)


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
    oldest first, decoded like files (with per-inbox buckets from ``detail_since`` on).

    The plain read, with :func:`read_peers`'s SQL: no command calls it (they read aggregates and
    peers); it is the reference the tests compare those with, run for run."""
    import psycopg

    try:
        rows = connection.execute(
            _RUNS, (start, end, instance, instance, exclude_location, exclude_location)
        ).fetchall()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None

    def bucketed(checked_at: object) -> bool:
        return detail_since is None or (
            isinstance(checked_at, datetime) and checked_at >= detail_since
        )

    # oldest first: the runs before ``detail_since`` (without buckets), then the ones from it
    brief = _decode(text for at, text in rows if not bucketed(at))
    return brief + _decode((text for at, text in rows if bucketed(at)), detailed=True)


def read_peers(
    connection: Connection,
    dsn: str,
    instance: str,
    location: str,
    runs_since: datetime,
    seen_since: datetime,
    end: datetime,
) -> tuple[list[ArtifactCore], dict[str, datetime]]:
    """``check``'s quorum in one round trip (a pipeline): the other locations' runs of
    ``instance`` in (runs_since, end] (without per-inbox buckets: the channels' come from the
    files) and each location's latest run of ``instance`` in (seen_since, end]."""
    import psycopg

    try:
        with connection.pipeline() if psycopg.Pipeline.is_supported() else contextlib.nullcontext():
            others = connection.execute(
                _RUNS, (runs_since, end, instance, instance, location, location)
            )
            seen = connection.execute(_SEEN, (instance, seen_since, end))
            rows, seen_rows = others.fetchall(), seen.fetchall()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    latest = {str(name): at for name, at in seen_rows if isinstance(at, datetime)}
    return _decode(text for _at, text in rows), latest


def first_run_at(connection: Connection, dsn: str) -> datetime | None:
    """The store's oldest run (every instance and location), or None when it holds none."""
    import psycopg

    try:
        row = connection.execute("SELECT min(checked_at) FROM health_runs").fetchone()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None
    return row[0] if row and isinstance(row[0], datetime) else None


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
    try:
        if dry_run:
            row = connection.execute(
                "SELECT count(*) FROM health_runs_default WHERE checked_at <= %s", (before,)
            ).fetchone()
            return PruneResult(old, int(row[0]) if row and isinstance(row[0], int) else 0)
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


# ------------------------------------------------------------------------ the report's reads
#
# ``report`` over the store (issue #14) aggregates in SQL: counts per location, the quorum's
# votes per slot, the bars of the timeline, percentiles by ``percentile_cont`` (the README's
# definition: linear between closest ranks) and the channels' (inbox, hour) buckets merged. It
# decodes whole runs only for the tail the alert rules and the latest-state sections read.

#: The window's successful, timed checks (as ``latencies_of`` says): name, location, bar of the
#: timeline, duration; the runs' columns computed once per run, names compared byte-wise.
_LATENCIES = (
    'SELECT c->>\'name\' COLLATE "C" AS name, r.location COLLATE "C" AS location, r.bar, '
    "(c->>'duration_ms')::float8 AS duration FROM (SELECT location, {bar} AS bar, "
    "artifact->'checks' AS checks FROM health_runs WHERE instance = %(instance)s "
    "AND checked_at > %(window)s AND checked_at <= %(end)s) AS r, "
    "jsonb_array_elements(CASE WHEN jsonb_typeof(r.checks) = 'array' THEN r.checks END) AS c "
    "WHERE c->'ok' = 'true'::jsonb AND (c->'skipped') IS DISTINCT FROM 'true'::jsonb "
    "AND jsonb_typeof(c->'duration_ms') = 'number'"
)
#: The sorts of the percentiles fit in memory (a 30-day report of 3 locations: ~12 MB).
REPORT_WORK_MEM = "32MB"
#: Microseconds since the window's start (exact: ``extract`` is numeric).
_SINCE = "extract(epoch FROM checked_at - %(window)s) * 1000000"


@dataclass(frozen=True)
class LocationRows:
    """One location's runs in the report's reach, counted in SQL."""

    name: str
    runs: int  # in the window
    up: int
    down: int
    read: int  # in the whole reach
    last_run_at: datetime
    last_up_at: datetime | None
    first_down_at: datetime | None  # in the window
    #: Its latest judged verdict in the reach ("up", "down"), None without one.
    judged: str | None
    #: When it began reporting, as far as the store remembers (None: before the reach).
    first_run_at: datetime | None


@dataclass(frozen=True)
class Percentiles:
    """``percentile_cont`` of one group of successful checks' durations."""

    samples: int
    median: float | None
    p90: float | None
    p99: float | None


@dataclass(frozen=True)
class ReportRows:
    """What the report needs from the store, aggregated; ``tail`` decoded whole."""

    instance: str
    locations: list[LocationRows]
    #: The quorum's slots: slot index → (locations that voted, of which down).
    slots: dict[int, tuple[int, int]]
    #: The timeline's bars: bar index → (runs up, runs down).
    bars: dict[int, tuple[int, int]]
    overall: Percentiles
    by_check: dict[str, Percentiles]
    by_location: dict[str, Percentiles]
    by_bar: dict[int, Percentiles]
    #: The channels' (inbox, hour) buckets, the latest run that has one winning, and the
    #: latest run that had any (the instant they were observed until).
    buckets: list[InboxHourRecord]
    buckets_seen: datetime | None
    #: The runs decoded whole, oldest first: the window's first down run (if before the rest),
    #: then every run from the instant the alert rules and latest-state sections need.
    tail: list[ArtifactCore]


@dataclass(frozen=True)
class ReportQuery:
    """The instants and steps of one report's reads."""

    start: datetime  # the reach: runs with start < checked_at <= end
    end: datetime
    window: datetime  # the uptime window's start (the window is (window, end])
    slot: timedelta  # the quorum's slot: one interval
    bar: timedelta  # one bar of the timeline
    bars: int
    detail_since: datetime  # the channels read the buckets of runs from here on
    lookback: timedelta  # the alert rules' tail: at least this much


def read_report(connection: Connection, dsn: str, query: ReportQuery) -> ReportRows | None:
    """The report's aggregates over the instance of the latest run in the reach, every read in
    one snapshot (REPEATABLE READ); None when the reach holds no run. Raises ``StoreError``."""
    import psycopg

    try:
        row = connection.execute(
            "SELECT instance FROM health_runs WHERE checked_at > %s AND checked_at <= %s "
            "ORDER BY checked_at DESC, artifact_id DESC LIMIT 1",
            (query.start, query.end),
        ).fetchone()
        if row is None:
            return None
        params: dict[str, object] = {
            "instance": str(row[0]),
            "start": query.start,
            "end": query.end,
            "window": query.window,
            "slot": round(query.slot / timedelta(microseconds=1)),
            "bar": round(query.bar / timedelta(microseconds=1)),
            "last_bar": query.bars - 1,
            "detail": query.detail_since,
        }
        with connection.transaction():
            # one snapshot, and the settings for these reads only
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            connection.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
            connection.execute("SET LOCAL jit = off")  # compiling costs more than it saves here
            locations = _locations(connection, params)
            overall, by_check, by_location, by_bar = _percentiles(connection, params)
            buckets, seen = _buckets(connection, params)
            return ReportRows(
                instance=str(row[0]),
                locations=locations,
                slots=_slots(connection, params),
                bars=_bars(connection, params),
                overall=overall,
                by_check=by_check,
                by_location=by_location,
                by_bar=by_bar,
                buckets=buckets,
                buckets_seen=seen,
                tail=_tail(connection, params, query, locations),
            )
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot read") from None


def _locations(connection: Connection, params: dict[str, object]) -> list[LocationRows]:
    rows = connection.execute(
        "SELECT location, count(*) FILTER (WHERE checked_at > %(window)s), "
        "count(*) FILTER (WHERE checked_at > %(window)s AND liveness = 'up'), "
        "count(*) FILTER (WHERE checked_at > %(window)s AND liveness = 'down'), count(*), "
        "max(checked_at), max(checked_at) FILTER (WHERE liveness = 'up'), "
        "min(checked_at) FILTER (WHERE checked_at > %(window)s AND liveness = 'down'), "
        "(array_agg(liveness ORDER BY checked_at DESC, artifact_id DESC) "
        "FILTER (WHERE liveness <> 'unknown'))[1], min(checked_at), "
        "EXISTS (SELECT 1 FROM health_runs o WHERE o.instance = %(instance)s "
        "AND o.location = r.location AND o.checked_at <= %(start)s) "
        "FROM health_runs r WHERE instance = %(instance)s AND checked_at > %(start)s "
        "AND checked_at <= %(end)s GROUP BY location ORDER BY location",
        params,
    ).fetchall()
    found = []
    for name, runs, up, down, read, last, last_up, first_down, judged, first, older in rows:
        found.append(
            LocationRows(
                name=str(name),
                runs=_int(runs),
                up=_int(up),
                down=_int(down),
                read=_int(read),
                last_run_at=_instant(last),  # type: ignore[arg-type]
                last_up_at=_instant(last_up),
                first_down_at=_instant(first_down),
                judged=None if judged is None else str(judged),
                first_run_at=None if older else _instant(first),
            )
        )
    return found


def _slots(connection: Connection, params: dict[str, object]) -> dict[int, tuple[int, int]]:
    """Each slot (window + i·slot, window + (i+1)·slot]: every location with a judged run there
    votes with its latest one (:func:`chatwoot_health.quorum.slot_verdicts`, in SQL)."""
    rows = connection.execute(
        "SELECT slot, count(*), count(*) FILTER (WHERE liveness = 'down') FROM ("
        f"SELECT DISTINCT ON (slot, location) ceil({_SINCE} / %(slot)s)::bigint - 1 AS slot, "
        "location, liveness FROM health_runs WHERE instance = %(instance)s "
        "AND checked_at > %(window)s AND checked_at <= %(end)s AND liveness <> 'unknown' "
        "ORDER BY slot, location, checked_at DESC, artifact_id DESC) AS latest "
        "GROUP BY slot ORDER BY slot",
        params,
    ).fetchall()
    return {_int(slot): (_int(voters), _int(down)) for slot, voters, down in rows}


#: The timeline's bar of a run in the window: ⌊since ÷ bar⌋, the last one at most.
_BAR = f"least(floor({_SINCE} / %(bar)s)::int, %(last_bar)s)"


def _bars(connection: Connection, params: dict[str, object]) -> dict[int, tuple[int, int]]:
    rows = connection.execute(
        f"SELECT {_BAR} AS bar, count(*) FILTER (WHERE liveness = 'up'), "
        "count(*) FILTER (WHERE liveness = 'down') FROM health_runs "
        "WHERE instance = %(instance)s AND checked_at > %(window)s AND checked_at <= %(end)s "
        "GROUP BY bar",
        params,
    ).fetchall()
    return {_int(bar): (_int(up), _int(down)) for bar, up, down in rows}


def _percentiles(
    connection: Connection, params: dict[str, object]
) -> tuple[Percentiles, dict[str, Percentiles], dict[str, Percentiles], dict[int, Percentiles]]:
    """Median, P90 and P99 of the window's successful checks: pooled, per check, per location
    and per bar of the timeline, in one pass over the runs."""
    rows = connection.execute(
        "SELECT grouping(name, location, bar), name, location, bar, count(*), "
        "percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY duration) FROM ("
        f"{_LATENCIES.format(bar=_BAR)}) AS samples "
        "GROUP BY GROUPING SETS ((), (name), (location), (bar))",
        params,
    ).fetchall()
    overall = Percentiles(0, None, None, None)
    by_check: dict[str, Percentiles] = {}
    by_location: dict[str, Percentiles] = {}
    by_bar: dict[int, Percentiles] = {}
    for grouping, name, location, bar, samples, values in rows:
        median, p90, p99 = (float(v) for v in values) if isinstance(values, list) else (None,) * 3
        found = Percentiles(_int(samples), median, p90, p99)
        if grouping == 0b111:
            overall = found
        elif grouping == 0b011:
            by_check[str(name)] = found
        elif grouping == 0b101:
            by_location[str(location)] = found
        else:
            by_bar[_int(bar)] = found
    return overall, by_check, by_location, by_bar


_BUCKETS = msgspec.json.Decoder(list[msgspec.Raw])
_BUCKET = msgspec.json.Decoder(InboxHourRecord)
#: A run's per-inbox buckets (none when it has no list).
_INBOXES = (
    "CASE WHEN jsonb_typeof({run}artifact->'inbox_activity') = 'array' "
    "THEN {run}artifact->'inbox_activity' END"
)


def _buckets(
    connection: Connection, params: dict[str, object]
) -> tuple[list[InboxHourRecord], datetime | None]:
    """(inbox, hour) → the bucket of the latest run that has it (``merge_buckets`` in SQL),
    and the latest run with any bucket. A hash of (inbox, hour) → latest instant first, then
    the buckets of those runs only (a sort of every bucket spilled to disk: 5 × slower). The
    hour is compared as written (``check`` writes one format)."""
    row = connection.execute(
        "WITH every AS (SELECT b->'inbox_id' AS inbox, b->>'hour' COLLATE \"C\" AS hour, "
        f"checked_at FROM health_runs, jsonb_array_elements({_INBOXES.format(run='')}) AS b "
        "WHERE instance = %(instance)s AND checked_at >= %(detail)s AND checked_at > %(start)s "
        "AND checked_at <= %(end)s), "
        "latest AS (SELECT inbox, hour, max(checked_at) AS at FROM every GROUP BY inbox, hour) "
        "SELECT coalesce(jsonb_agg(bucket), '[]'::jsonb)::text, (SELECT max(at) FROM latest) "
        "FROM (SELECT DISTINCT ON (l.inbox, l.hour) b AS bucket FROM latest AS l "
        "JOIN health_runs AS r ON r.instance = %(instance)s AND r.checked_at = l.at, "
        f"jsonb_array_elements({_INBOXES.format(run='r.')}) AS b "
        "WHERE b->'inbox_id' = l.inbox AND b->>'hour' = l.hour "
        "ORDER BY l.inbox, l.hour, r.artifact_id DESC) AS merged",
        params,
    ).fetchone()
    assert row is not None
    text, seen = row
    assert isinstance(text, str)
    buckets: list[InboxHourRecord] = []
    for raw in _BUCKETS.decode(text):
        try:  # UTC, 1970–9000, as a file's buckets are read; one that is not is left out
            bucket = _BUCKET.decode(raw)
            msgspec.structs.force_setattr(bucket, "hour", in_range(bucket.hour))
        except (msgspec.DecodeError, ValueError):
            continue
        buckets.append(bucket)
    return buckets, _instant(seen)


def _tail(
    connection: Connection,
    params: dict[str, object],
    query: ReportQuery,
    locations: Sequence[LocationRows],
) -> list[ArtifactCore]:
    """The runs the alert rules and the latest-state sections read, decoded whole (without
    their buckets): from the earliest of the look-back, each location's last run up (its
    failure streak), the last run with conversation counts, with agents, with a short queue
    (high_queue's episode), the last runs (agent_offline); and the window's first down run."""
    row = connection.execute(
        "SELECT (SELECT checked_at FROM health_runs WHERE instance = %(instance)s "
        "AND checked_at > %(start)s AND checked_at <= %(end)s AND (artifact->'conversations'->"
        "'pending') <= %(queue)s::jsonb ORDER BY checked_at DESC LIMIT 1), "
        "(SELECT checked_at FROM health_runs WHERE instance = %(instance)s "
        "AND checked_at > %(start)s AND checked_at <= %(end)s "
        "AND jsonb_typeof(artifact->'conversations') = 'object' ORDER BY checked_at DESC LIMIT 1), "
        "(SELECT checked_at FROM health_runs WHERE instance = %(instance)s "
        "AND checked_at > %(start)s AND checked_at <= %(end)s "
        "AND jsonb_typeof(artifact->'agents') = 'object' ORDER BY checked_at DESC LIMIT 1), "
        "(SELECT checked_at FROM health_runs WHERE instance = %(instance)s "
        "AND checked_at > %(start)s AND checked_at <= %(end)s "
        "ORDER BY checked_at DESC LIMIT 1 OFFSET %(last)s)",
        {**params, "queue": str(HIGH_QUEUE_PENDING), "last": AGENT_OFFLINE_RUNS - 1},
    ).fetchone()
    assert row is not None
    marks = [query.end - query.lookback]
    marks += [_instant(moment) or query.start for moment in row[:3]]
    marks += [moment for moment in [_instant(row[3])] if moment is not None]
    marks += [where.last_up_at or query.start for where in locations]
    since = max(query.start, min(marks))
    # and before that: each location's latest run (a silent one is still one of the locations)
    # and the window's first down run (uptime_below_target's since)
    extra = [where.last_run_at for where in locations if where.last_run_at < since]
    extra += [moment for w in locations if (moment := w.first_down_at) and moment < since]
    rows = connection.execute(
        "SELECT (artifact - 'inbox_activity')::text FROM health_runs "
        "WHERE instance = %(instance)s AND checked_at > %(start)s AND checked_at <= %(end)s "
        "AND (checked_at >= %(since)s OR checked_at = ANY(%(extra)s)) "
        "ORDER BY checked_at, artifact_id",
        {**params, "since": since, "extra": extra},
    ).fetchall()
    return _decode(text for (text,) in rows)


def _decode(texts: Iterable[object], detailed: bool = False) -> list[ArtifactCore]:
    """Runs' artifacts as ``jsonb::text``, decoded like files (``detailed``: with buckets)."""
    decoder = DETAILED_DECODER if detailed else RECORD_DECODER
    runs: list[ArtifactCore] = []
    for text in texts:
        assert isinstance(text, str)
        try:
            runs.append(decoder.decode(text))
        except msgspec.DecodeError:
            continue  # written by a newer tool in a shape this one cannot read
    return runs


def _int(value: object) -> int:
    assert isinstance(value, int | float | Decimal)
    return int(value)


def _instant(value: object) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None
