"""``check``'s digest of the channel evidence: the merged per-inbox buckets of the last week,
kept in the database beside the artifacts and brought up to date with the new runs only.

``channel_outage`` judges a week of per-inbox activity: read from the files, that is ~2,000 runs
decoded on every ``check`` (most of what a healthy run's alert step cost). The rule only needs
the *merge* of those runs (:func:`chatwoot_health.metrics.channels.merge_buckets`: for each
(inbox, hour), the bucket of the latest run that has it), so this module keeps that merge in
two tables of the same SQLite file as the run index and the alert state:

* ``recent_runs`` — one row per artifact file taken in (its name, ``checked_at``, location,
  whether it carried buckets, whether its name is its instant, the file's identity: size,
  modification time and inode), or read and rejected;
* ``recent_buckets`` — one row per (inbox, hour): the bucket of the latest run that has it
  (latest by ``checked_at``, then by name: the order in which a full read merges them).

The tables are a cache of the files, never of correctness. Each use compares the names the
directory lists in the horizon with the names taken in: a name missing is read and merged (the
new run, a run written by another process); a name gone (a file deleted) or a file whose
identity changed (replaced or rewritten under the same name: restored from a backup, synced
again) drops the digest and rebuilds it from the files. When the digest cannot stand for the
files exactly — a run dated after ``now`` (the clock went back), a file whose name is not its
instant, a database that cannot be used — :func:`channel_digest` answers None and the caller
reads the files as ``report`` does. Comparing the identities costs one ``stat`` per file of the
week (~2,000, a few milliseconds), the price of never merging a content the files no longer
hold.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from chatwoot_health import sqlite
from chatwoot_health.artifacts.fast import ArtifactCore, Bucket, InboxHourRecord, buckets_of
from chatwoot_health.artifacts.index import identity
from chatwoot_health.artifacts.store import ArtifactDirectory, parse_record, read_artifact_bytes
from chatwoot_health.timeutil import compact_stamp, sortable_text

#: The tables' layout; another value in ``recent_meta`` drops and rebuilds them.
VERSION = "2"
#: Seconds an overlapping run waits for the other's transaction (then it reads the files).
BUSY_TIMEOUT = 1.0
#: More names than this to take in at once: rebuilt from the files in one pass instead.
MAX_MISSING = 48
#: Rows older than the horizon by more than this are deleted.
KEEP = timedelta(days=1)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS recent_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recent_runs (
    name        TEXT PRIMARY KEY,   -- the artifact file's name
    checked_at  TEXT,               -- ISO 8601 UTC, microseconds; NULL: the file was rejected
    location    TEXT,
    has_buckets INTEGER NOT NULL,
    regular     INTEGER NOT NULL,   -- the name's instant is checked_at's second
    identity    TEXT    NOT NULL    -- the file's size:mtime_ns:inode when it was read
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent_buckets (
    inbox_id       INTEGER NOT NULL,
    hour           TEXT    NOT NULL,
    channel_type   TEXT    NOT NULL,
    incoming       INTEGER NOT NULL,
    avg_first_response_seconds REAL,
    responses      INTEGER NOT NULL,
    run_checked_at TEXT    NOT NULL,  -- the run the bucket comes from (the latest that has it)
    run_name       TEXT    NOT NULL,
    PRIMARY KEY (inbox_id, hour)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recent_buckets_run ON recent_buckets (run_name);
INSERT OR IGNORE INTO recent_meta VALUES ('version', '{VERSION}');
"""

_UPSERT = """
INSERT INTO recent_buckets VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (inbox_id, hour) DO UPDATE SET
    channel_type = excluded.channel_type, incoming = excluded.incoming,
    avg_first_response_seconds = excluded.avg_first_response_seconds,
    responses = excluded.responses, run_checked_at = excluded.run_checked_at,
    run_name = excluded.run_name
WHERE (excluded.run_checked_at, excluded.run_name)
    >= (recent_buckets.run_checked_at, recent_buckets.run_name)
"""


@dataclass(frozen=True)
class ChannelDigest:
    """What ``channel_outage`` and ``channel_slow_response`` read of a week of runs."""

    #: One bucket per (inbox, hour): the latest run's, over the runs checked since the horizon.
    buckets: Sequence[Bucket]
    #: The latest run since the horizon that carried buckets (None: none did).
    observed_until: datetime | None
    #: The runs' ``location`` values over the horizon (None: a run without one).
    locations: frozenset[str | None]


def channel_digest(
    listing: ArtifactDirectory, database: Path, since: datetime, now: datetime
) -> ChannelDigest | None:
    """The merged buckets of the runs named in ``[since, now]`` (those checked from ``since``
    on, as :func:`~chatwoot_health.metrics.channels.merge_buckets` takes them), brought up to
    date with the files first; None when the digest cannot stand for the files (read them)."""
    low, high = compact_stamp(since), compact_stamp(now) + "~"
    listed = _identities(listing, (name for _stamp, name in listing.names(since, now)))
    try:
        with _open(database) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                digest = _update_and_read(db, listing, listed, low, high, since, now)
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
    except (sqlite3.Error, OSError):
        return None  # the database cannot be used: the files are read instead
    return digest


def _identities(listing: ArtifactDirectory, names: Iterable[str]) -> dict[str, str]:
    """Each name's file identity as the run index takes it (size, modification time, inode;
    ``""`` when it is not a regular file): a file replaced or rewritten under its name has
    another."""
    base = os.fspath(listing.path) + os.sep
    found: dict[str, str] = {}
    for name in names:
        ident = identity(base + listing.relpath(name))
        found[name] = "" if ident is None else "{}:{}:{}".format(*ident)
    return found


@contextlib.contextmanager
def _open(database: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite.connect(database, BUSY_TIMEOUT)
    try:
        row = _version(db)
        if row != VERSION:
            db.executescript(
                "DROP TABLE IF EXISTS recent_runs; DROP TABLE IF EXISTS recent_buckets;"
                "DROP TABLE IF EXISTS recent_meta;"
            )
            db.executescript(_SCHEMA)
        yield db
    finally:
        db.close()


def _version(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT value FROM recent_meta WHERE key = 'version'").fetchone()
    except sqlite3.OperationalError:  # no such table: a new or another file
        return None
    return str(row[0]) if row else None


def _update_and_read(
    db: sqlite3.Connection,
    listing: ArtifactDirectory,
    listed: dict[str, str],
    low: str,
    high: str,
    since: datetime,
    now: datetime,
) -> ChannelDigest | None:
    known: dict[str, str] = dict(
        db.execute(
            "SELECT name, identity FROM recent_runs WHERE name >= ? AND name < ?", (low, high)
        ).fetchall()
    )
    changed = any(listed.get(name) != identity for name, identity in known.items())
    if changed or len(listed.keys() - known.keys()) > MAX_MISSING:
        # A file gone or replaced since it was taken in (its bucket may have won), or a cold
        # digest.
        db.execute("DELETE FROM recent_runs")
        db.execute("DELETE FROM recent_buckets")
        known = {}
    missing = sorted(listed.keys() - known.keys())
    base = os.fspath(listing.path) + os.sep
    for name in missing:
        try:
            run = parse_record(read_artifact_bytes(base + listing.relpath(name)), detailed=True)
        except ValueError:  # skipped by a full read too
            db.execute(
                "INSERT OR REPLACE INTO recent_runs VALUES (?, NULL, NULL, 0, 1, ?)",
                (name, listed[name]),
            )
            continue
        if run.checked_at > now:
            continue  # not part of this run's window: taken in by a later run
        _take(db, name, run, listed[name])
    # Rows the horizon has left, and everything they merged.
    cutoff = compact_stamp(since - KEEP)
    db.execute("DELETE FROM recent_runs WHERE name < ?", (cutoff,))
    db.execute("DELETE FROM recent_buckets WHERE run_name < ?", (cutoff,))
    return _read(db, low, high, since, now)


def _take(db: sqlite3.Connection, name: str, run: ArtifactCore, identity: str) -> None:
    checked = sortable_text(run.checked_at)
    buckets = buckets_of(run) or ()
    regular = name[:16] == compact_stamp(run.checked_at)
    db.execute(
        "INSERT OR REPLACE INTO recent_runs VALUES (?, ?, ?, ?, ?, ?)",
        (name, checked, run.location, 1 if buckets else 0, 1 if regular else 0, identity),
    )
    db.executemany(_UPSERT, _bucket_rows(buckets, checked, name))


def _bucket_rows(
    buckets: Iterable[Bucket], checked: str, name: str
) -> Iterator[tuple[object, ...]]:
    for b in buckets:
        yield (
            b.inbox_id,
            sortable_text(b.hour),
            b.channel_type,
            b.incoming_messages,
            b.avg_first_response_seconds,
            b.first_response_count,
            checked,
            name,
        )


def _read(
    db: sqlite3.Connection, low: str, high: str, since: datetime, now: datetime
) -> ChannelDigest | None:
    # A run dated after now (the clock went back, or an overlapping later run) may have won a
    # bucket a full read would give to an earlier run; a name that is not its instant (kept
    # until it leaves the rows) places its run where the full read would not: read the files.
    odd = db.execute(
        "SELECT 1 FROM recent_runs WHERE name >= ? OR checked_at > ? OR regular = 0 LIMIT 1",
        (high, sortable_text(now)),
    ).fetchone()
    if odd is not None:
        return None
    start = sortable_text(since)
    # A run's buckets count when it was decoded with them (its name's instant from ``since``
    # on) and merged (checked from ``since`` on); the latest run that has a bucket decides, so
    # a bucket whose run does not count has no earlier run that does.
    first_named = compact_stamp(_ceil_second(since))
    rows = db.execute(
        "SELECT inbox_id, channel_type, hour, incoming, avg_first_response_seconds, responses "
        "FROM recent_buckets WHERE run_checked_at >= ? AND run_name >= ?",
        (start, first_named),
    ).fetchall()
    buckets = [
        InboxHourRecord(
            inbox_id=inbox,
            channel_type=channel,
            hour=datetime.fromisoformat(hour),
            incoming_messages=incoming,
            avg_first_response_seconds=avg,
            first_response_count=responses,
        )
        for inbox, channel, hour, incoming, avg, responses in rows
    ]
    latest = db.execute(
        "SELECT max(checked_at) FROM recent_runs WHERE name >= ? AND name < ? "
        "AND has_buckets AND checked_at >= ?",
        (first_named, high, start),
    ).fetchone()
    locations = db.execute(
        "SELECT DISTINCT location FROM recent_runs "
        "WHERE name >= ? AND name < ? AND checked_at IS NOT NULL",
        (low, high),
    ).fetchall()
    return ChannelDigest(
        buckets=buckets,
        observed_until=datetime.fromisoformat(latest[0]) if latest and latest[0] else None,
        locations=frozenset(location for (location,) in locations),
    )


def _ceil_second(moment: datetime) -> datetime:
    """The first whole second at or after ``moment`` (a name counts whole seconds)."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)
