"""The embedded notification state: one SQLite file, and ALL of the notification SQL.

Tables (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`; the file will also hold a run index, so
every table here is prefixed ``notify_``):

* ``notify_episodes`` — one row per episode of one alert on one instance; ``ended_at`` is NULL
  while it is open, and a partial unique index allows one open episode per (instance, alert);
* ``notify_outbox`` — one row per message × channel, written in the same transaction as the
  decision that caused it, marked ``delivered_at`` after delivery (an outbox: a crash between
  "decided" and "delivered" delivers late, never never); a row being delivered carries a lease so
  that an overlapping run does not send it too;
* ``notify_runs`` — the last recorded run per instance (to notice a clock that went backwards).

One run = one ``BEGIN IMMEDIATE`` transaction (:meth:`NotifyStore.transaction`): read the open
episodes, apply the decisions, write the outbox, claim the rows to deliver. WAL mode and a busy
timeout let an overlapping run wait for it instead of failing. A PostgreSQL backend for several
probe hosts would implement the same :class:`Transaction` methods.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chatwoot_health import sqlite
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.notify.decide import Decisions, EndReason, OpenEpisode
from chatwoot_health.notify.messages import Message

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 5.0  # seconds an overlapping run waits for the other's transaction
RETRY_FOR = timedelta(hours=24)  # a failing channel is retried on later runs for this long

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_episodes (
    id          INTEGER PRIMARY KEY,
    instance    TEXT    NOT NULL,
    alert       TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,          -- ISO 8601 UTC, microseconds: sorts as text
    ended_at    TEXT,                      -- NULL while open
    end_reason  TEXT,                      -- 'resolved' | 'escalated'
    pushed      INTEGER NOT NULL,          -- did its start produce messages?
    seeded      INTEGER NOT NULL DEFAULT 0 -- rebuilt by bootstrap(), not seen starting
);
CREATE UNIQUE INDEX IF NOT EXISTS notify_episodes_one_open
    ON notify_episodes (instance, alert) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS notify_episodes_started ON notify_episodes (started_at);

CREATE TABLE IF NOT EXISTS notify_outbox (
    id             INTEGER PRIMARY KEY,
    episode_id     INTEGER NOT NULL REFERENCES notify_episodes (id),
    message_id     TEXT    NOT NULL,
    kind           TEXT    NOT NULL,       -- 'start' | 'resolve'
    alert          TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    channel_key    TEXT    NOT NULL,       -- a hash: the URL (a secret) is never stored
    channel_label  TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    last_attempt_at TEXT,
    lease_until    TEXT,
    delivered_at   TEXT,
    gave_up_at     TEXT,
    UNIQUE (message_id, channel_key)
);
CREATE INDEX IF NOT EXISTS notify_outbox_pending
    ON notify_outbox (id) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

CREATE TABLE IF NOT EXISTS notify_runs (
    instance    TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL
);
"""


class StateUnavailable(Exception):
    """The state could not be used this run; ``str(exc)`` is one line (no traceback)."""


class StateLocked(StateUnavailable):
    pass


class StateReadOnly(StateUnavailable):
    pass


class StateCorrupt(StateUnavailable):
    pass


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _maybe(text: str | None) -> datetime | None:
    return None if text is None else _instant(text)


def _classify(exc: sqlite3.Error, path: Path, busy_timeout: float) -> StateUnavailable:
    name = getattr(exc, "sqlite_errorname", "") or ""
    detail = " ".join(str(exc).split())
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "malformed" in detail:
        return StateCorrupt(f"{path} is not a readable database ({detail})")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in detail:
        return StateLocked(
            f"{path} is locked by another run for more than {busy_timeout:g} s; "
            "notifications are left to the next run"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_IOERR")):
        return StateReadOnly(
            f"cannot write {path} ({detail}); notifications skipped this run: nothing is sent "
            "that cannot be recorded, so nothing repeats"
        )
    return StateUnavailable(f"{path}: {detail}")


@dataclass(frozen=True)
class Pending:
    """One outbox row claimed for delivery by this run."""

    row_id: int
    message: Message
    channel_key: str
    channel_label: str
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class Delivery:
    message_id: str
    kind: str
    channel: str
    attempts: int
    delivered_at: datetime | None
    last_error: str | None
    gave_up_at: datetime | None


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode as the incident log shows it."""

    instance: str
    alert: str
    severity: Severity
    title: str
    message: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: EndReason | None
    seeded: bool
    deliveries: tuple[Delivery, ...] = field(default=())

    def duration(self, now: datetime) -> timedelta:
        """How long it lasted (so far, for an open one); never negative."""
        end = self.ended_at if self.ended_at is not None else now
        return max(end - self.started_at, timedelta(0))


class Transaction:
    """The statements of one run, inside one ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, connection: sqlite3.Connection, fresh: bool) -> None:
        self._db = connection
        #: True when the schema was created by this run (a new or deleted database).
        self.fresh = fresh

    def last_run(self, instance: str) -> datetime | None:
        row = self._db.execute(
            "SELECT last_run_at FROM notify_runs WHERE instance = ?", (instance,)
        ).fetchone()
        return None if row is None else _instant(row[0])

    def record_run(self, instance: str, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO notify_runs (instance, last_run_at) VALUES (?, ?) "
            "ON CONFLICT (instance) DO UPDATE SET last_run_at = "
            "max(notify_runs.last_run_at, excluded.last_run_at)",
            (instance, _text(at)),
        )

    def open_episodes(self, instance: str) -> list[OpenEpisode]:
        rows = self._db.execute(
            "SELECT alert, severity, title, message, started_at, pushed FROM notify_episodes "
            "WHERE instance = ? AND ended_at IS NULL ORDER BY id",
            (instance,),
        ).fetchall()
        return [
            OpenEpisode(name, Severity(severity), title, message, _instant(started), bool(pushed))
            for name, severity, title, message, started, pushed in rows
        ]

    def bootstrap(
        self, instance: str, previous_alerts: Sequence[Alert], at: datetime, pushed: frozenset[str]
    ) -> int:
        """Seed open episodes from the alerts that were active at the previous run, as if their
        starts had been delivered (they were, by the run that owned the lost database): nothing
        is sent for them, and their resolution is sent when they clear. Returns how many."""
        seeded = 0
        for alert in previous_alerts:
            started = min(alert.since, at) if alert.since is not None else at
            cursor = self._db.execute(
                "INSERT INTO notify_episodes (instance, alert, severity, title, message, "
                "started_at, pushed, seeded) VALUES (?, ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT DO NOTHING",
                (
                    instance,
                    alert.name,
                    alert.severity.value,
                    alert.title,
                    alert.message,
                    _text(started),
                    int(alert.name in pushed),
                ),
            )
            seeded += cursor.rowcount
        return seeded

    def adopt(
        self,
        instance: str,
        alerts: Sequence[Alert],
        now: datetime,
        previous_alerts: Callable[[], Sequence[Alert]],
    ) -> list[str]:
        """Take back the seeds of this run's own new alerts; returns their names.

        Two runs overlapping on a new database: the later one bootstraps first and seeds the
        earlier one's alerts as if delivered, but the earlier run has not decided yet, so no one
        sent them. An open seeded episode that has no outbox row, of an alert active in this run
        and not at this run's previous run, is such a seed: it is removed so that :func:`decide`
        starts it here, and its start is delivered once. A seed of an alert that was already
        active before (a deleted database) stays, and is not sent again. Only looked for when a
        later run has been recorded (the one that seeded), so ``previous_alerts`` is rarely
        asked."""
        last = self.last_run(instance)
        if last is None or last <= now:
            return []
        rows = self._db.execute(
            "SELECT alert FROM notify_episodes AS e WHERE instance = ? AND ended_at IS NULL "
            "AND seeded = 1 AND NOT EXISTS (SELECT 1 FROM notify_outbox WHERE episode_id = e.id)",
            (instance,),
        ).fetchall()
        seeds = {str(row[0]) for row in rows} & {alert.name for alert in alerts}
        if not seeds:
            return []
        adopted = sorted(seeds - {alert.name for alert in previous_alerts()})
        for name in adopted:
            self._db.execute(
                "DELETE FROM notify_episodes WHERE instance = ? AND alert = ? "
                "AND ended_at IS NULL AND seeded = 1",
                (instance, name),
            )
        return adopted

    def apply(
        self,
        instance: str,
        decisions: Decisions,
        messages: Sequence[Message],
        channels: Sequence[tuple[str, str]],
    ) -> None:
        """Write the decisions' episodes, and one outbox row per message × (key, label)."""
        for start in decisions.starts:
            alert = start.alert
            self._db.execute(
                "INSERT INTO notify_episodes (instance, alert, severity, title, message, "
                "started_at, pushed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    instance,
                    alert.name,
                    alert.severity.value,
                    alert.title,
                    alert.message,
                    _text(start.started_at),
                    int(start.push),
                ),
            )
        episode_ids: dict[str, int] = {}
        for end in decisions.ends:
            row = self._db.execute(
                "UPDATE notify_episodes SET ended_at = ?, end_reason = ? "
                "WHERE instance = ? AND alert = ? AND ended_at IS NULL RETURNING id",
                (_text(end.ended_at), end.reason.value, instance, end.episode.name),
            ).fetchone()
            if row is not None:
                episode_ids[end.episode.name] = int(row[0])
        now = _text(decisions.effective_now)
        for message in messages:
            episode_id = episode_ids.get(message.alert) if message.kind == "resolve" else None
            if episode_id is None:
                row = self._db.execute(
                    "SELECT id FROM notify_episodes WHERE instance = ? AND alert = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (instance, message.alert),
                ).fetchone()
                episode_id = int(row[0])
            for key, label in channels:
                self._db.execute(
                    "INSERT INTO notify_outbox (episode_id, message_id, kind, alert, title, body, "
                    "channel_key, channel_label, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (message_id, channel_key) DO NOTHING",
                    (
                        episode_id,
                        message.id,
                        message.kind,
                        message.alert,
                        message.title,
                        message.body,
                        key,
                        label,
                        now,
                    ),
                )

    def expire(self, now: datetime, configured: Sequence[str]) -> list[str]:
        """Give up on rows older than :data:`RETRY_FOR` or whose channel is gone; one line each."""
        notices: list[str] = []
        rows = self._db.execute(
            "SELECT id, message_id, channel_key, channel_label, created_at, attempts, last_error "
            "FROM notify_outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL ORDER BY id"
        ).fetchall()
        for row_id, message_id, key, label, created, attempts, error in rows:
            if key not in configured:
                reason = "its channel is no longer configured"
            elif now - _instant(created) > RETRY_FOR:
                reason = (
                    f"gave up after {attempts} attempts over "
                    f"{int(RETRY_FOR.total_seconds() // 3600)} h (last error: {error or 'none'})"
                )
            else:
                continue
            self._db.execute(
                "UPDATE notify_outbox SET gave_up_at = ?, lease_until = NULL WHERE id = ?",
                (_text(now), row_id),
            )
            notices.append(f"notification {message_id} to {label} dropped: {reason}")
        return notices

    def claim(self, now: datetime, per_row: timedelta, limit: int = 100) -> list[Pending]:
        """The pending rows no other run is delivering, leased to this run for ``per_row`` each
        plus half a minute (a run that dies while delivering leaves them to the next run once
        the lease ends)."""
        rows = self._db.execute(
            "SELECT id, message_id, kind, alert, title, body, channel_key, channel_label, "
            "created_at, attempts FROM notify_outbox "
            "WHERE delivered_at IS NULL AND gave_up_at IS NULL "
            "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT ?",
            (_text(now), limit),
        ).fetchall()
        until = _text(now + per_row * len(rows) + timedelta(seconds=30))
        claimed: list[Pending] = []
        for row_id, message_id, kind, alert, title, body, key, label, created, attempts in rows:
            self._db.execute(
                "UPDATE notify_outbox SET lease_until = ? WHERE id = ?", (until, row_id)
            )
            message = Message(message_id, kind, alert, title, body)
            claimed.append(Pending(row_id, message, key, label, _instant(created), attempts))
        return claimed


class NotifyStore:
    """The state database at ``path``. Open errors surface as :class:`StateUnavailable`."""

    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None

    def _error(self, exc: sqlite3.Error) -> StateUnavailable:
        return _classify(exc, self.path, self.busy_timeout)

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                db = sqlite.connect(self.path, self.busy_timeout)
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            try:
                db.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                db.close()
                raise self._error(exc) from None
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> NotifyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any exception."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StateUnavailable(
                    f"{self.path} was written by a newer chatwoot-health (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); notifications skipped"
                )
            fresh = version == 0
            if fresh:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            yield Transaction(db, fresh)
            db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise

    def quarantine(self, now: datetime) -> Path:
        """Move an unreadable database (and its WAL files) aside as ``<name>.corrupt-<time>``."""
        self.close()
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                source.replace(self.path.with_name(f"{self.path.name}{suffix}.corrupt-{stamp}"))
        return target

    # -- after delivery: one short transaction each, so a crash loses at most one mark --------

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        self._write(
            "UPDATE notify_outbox SET delivered_at = ?, lease_until = NULL, "
            "attempts = attempts + 1, last_attempt_at = ?, last_error = NULL WHERE id = ?",
            (_text(now), _text(now), row_id),
        )

    def release(self, row_id: int) -> None:
        """Give a claimed row back untried (its channel already failed in this run)."""
        self._write("UPDATE notify_outbox SET lease_until = NULL WHERE id = ?", (row_id,))

    def mark_failed(self, row_id: int, error: str, now: datetime) -> None:
        self._write(
            "UPDATE notify_outbox SET lease_until = NULL, attempts = attempts + 1, "
            "last_attempt_at = ?, last_error = ? WHERE id = ?",
            (_text(now), error, row_id),
        )

    def _write(self, sql: str, parameters: tuple[object, ...]) -> None:
        db = self._connect()
        try:
            db.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    # -- the incident log ------------------------------------------------------------------------

    def episodes(
        self, since: datetime, until: datetime, instance: str | None = None
    ) -> list[EpisodeRecord]:
        """Episodes overlapping [since, until), oldest first, with what was delivered where."""
        db = self._connect()
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) == 0:
                return []
            rows = db.execute(
                "SELECT id, instance, alert, severity, title, message, started_at, ended_at, "
                "end_reason, seeded FROM notify_episodes "
                "WHERE started_at < ? AND (ended_at IS NULL OR ended_at >= ?) "
                "AND (? IS NULL OR instance = ?) ORDER BY started_at, id",
                (_text(until), _text(since), instance, instance),
            ).fetchall()
            deliveries: dict[int, list[Delivery]] = {}
            ids = [row[0] for row in rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in db.execute(
                    "SELECT episode_id, message_id, kind, channel_label, attempts, delivered_at, "
                    f"last_error, gave_up_at FROM notify_outbox WHERE episode_id IN ({marks}) "
                    "ORDER BY id",
                    chunk,
                ):
                    episode_id, message_id, kind, label, attempts, delivered, error, gave_up = row
                    deliveries.setdefault(episode_id, []).append(
                        Delivery(
                            message_id,
                            kind,
                            label,
                            attempts,
                            _maybe(delivered),
                            error,
                            _maybe(gave_up),
                        )
                    )
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return [
            EpisodeRecord(
                instance=inst,
                alert=alert,
                severity=Severity(severity),
                title=title,
                message=text,
                started_at=_instant(started),
                ended_at=_maybe(ended),
                end_reason=EndReason(reason) if reason else None,
                seeded=bool(seeded),
                deliveries=tuple(deliveries.get(row_id, ())),
            )
            for row_id, inst, alert, severity, title, text, started, ended, reason, seeded in rows
        ]
