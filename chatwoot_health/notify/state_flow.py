"""The notification state's flow, once for both backends: the statements of one run and the marks
after delivery, written against a small :class:`Dialect`.

The local SQLite file (:mod:`.state`) and the store's PostgreSQL shared by several probe hosts
(:mod:`.state_pg`) hold the same tables (``notify_episodes``, ``notify_outbox``,
``notify_runs``) and run the same statements; each backend keeps only what differs — how it
spells a placeholder and ``greatest``, how it stores an instant, how it opens, locks and
commits, and how its errors become :class:`StateUnavailable`. Statements are written with ``?``
placeholders and booleans as parameters (SQLite stores them as 1/0).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.notify.decide import Decisions, EndReason, OpenEpisode
from chatwoot_health.notify.messages import Message

RETRY_FOR = timedelta(hours=24)  # a failing channel is retried on later runs for this long
_CHUNK = 500  # episode ids per ``IN (…)`` when the incident log reads the deliveries


class StateUnavailable(Exception):
    """The state could not be used this run; ``str(exc)`` is one line (no traceback)."""


class Connection(Protocol):
    """What the flow needs of a DB-API connection (``sqlite3`` and ``psycopg`` both have it)."""

    def execute(self, sql: Any, parameters: Any, /) -> Any: ...


class Dialect(Protocol):
    """How one backend spells and stores what the flow writes."""

    #: SQL's ``greatest`` of two values (SQLite's scalar ``max``).
    greatest: str
    #: The state is shared by several hosts: a channel this host does not know may be another
    #: host's, so its rows are left to that host instead of being given up.
    shared: bool

    def sql(self, statement: str) -> str:
        """``statement`` with its ``?`` placeholders in the driver's style."""
        ...

    def put(self, moment: datetime) -> object:
        """An instant as a parameter."""
        ...

    def get(self, value: object) -> datetime:
        """An instant read back (never NULL)."""
        ...


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


class Statements:
    """Runs the flow's statements over one connection in one backend's dialect."""

    def __init__(self, connection: Connection, dialect: Dialect) -> None:
        self._db = connection
        self.dialect = dialect

    def execute(self, statement: str, parameters: Sequence[object] = ()) -> Any:
        return self._db.execute(self.dialect.sql(statement), tuple(parameters))

    def maybe(self, value: object) -> datetime | None:
        return None if value is None else self.dialect.get(value)


class Transaction(Statements):
    """The statements of one run, inside the backend's one locked transaction
    (:meth:`.state.NotifyStore.transaction`, :meth:`.state_pg.PgNotifyStore.transaction`)."""

    def __init__(self, connection: Connection, dialect: Dialect, fresh: bool) -> None:
        super().__init__(connection, dialect)
        #: True when this instance is new to the state (a new, deleted or shared database).
        self.fresh = fresh

    def last_run(self, instance: str) -> datetime | None:
        row = self.execute(
            "SELECT last_run_at FROM notify_runs WHERE instance = ?", (instance,)
        ).fetchone()
        return None if row is None else self.dialect.get(row[0])

    def record_run(self, instance: str, at: datetime) -> None:
        self.execute(
            "INSERT INTO notify_runs (instance, last_run_at) VALUES (?, ?) "
            "ON CONFLICT (instance) DO UPDATE SET last_run_at = "
            f"{self.dialect.greatest}(notify_runs.last_run_at, excluded.last_run_at)",
            (instance, self.dialect.put(at)),
        )

    def open_episodes(self, instance: str) -> list[OpenEpisode]:
        rows = self.execute(
            "SELECT alert, severity, title, message, started_at, pushed FROM notify_episodes "
            "WHERE instance = ? AND ended_at IS NULL ORDER BY id",
            (instance,),
        ).fetchall()
        return [
            OpenEpisode(
                str(name),
                Severity(str(severity)),
                str(title),
                str(text),
                self.dialect.get(started),
                bool(pushed),
            )
            for name, severity, title, text, started, pushed in rows
        ]

    def bootstrap(
        self, instance: str, previous_alerts: Sequence[Alert], at: datetime, pushed: frozenset[str]
    ) -> int:
        """Seed open episodes from the alerts that were active at the previous run, as if their
        starts had been delivered (they were, by the run that owned the lost database, or that
        this instance used before the shared state): nothing is sent for them, and their
        resolution is sent when they clear. Returns how many."""
        seeded = 0
        for alert in previous_alerts:
            started = min(alert.since, at) if alert.since is not None else at
            cursor = self.execute(
                "INSERT INTO notify_episodes (instance, alert, severity, title, message, "
                "started_at, pushed, seeded) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    instance,
                    alert.name,
                    alert.severity.value,
                    alert.title,
                    alert.message,
                    self.dialect.put(started),
                    alert.name in pushed,
                    True,
                ),
            )
            seeded += max(int(cursor.rowcount), 0)
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
        rows = self.execute(
            "SELECT alert FROM notify_episodes AS e WHERE instance = ? AND ended_at IS NULL "
            "AND seeded = ? AND NOT EXISTS (SELECT 1 FROM notify_outbox WHERE episode_id = e.id)",
            (instance, True),
        ).fetchall()
        seeds = {str(row[0]) for row in rows} & {alert.name for alert in alerts}
        if not seeds:
            return []
        adopted = sorted(seeds - {alert.name for alert in previous_alerts()})
        for name in adopted:
            self.execute(
                "DELETE FROM notify_episodes WHERE instance = ? AND alert = ? "
                "AND ended_at IS NULL AND seeded = ?",
                (instance, name, True),
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
        put = self.dialect.put
        for start in decisions.starts:
            alert = start.alert
            self.execute(
                "INSERT INTO notify_episodes (instance, alert, severity, title, message, "
                "started_at, pushed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    instance,
                    alert.name,
                    alert.severity.value,
                    alert.title,
                    alert.message,
                    put(start.started_at),
                    start.push,
                ),
            )
        episode_ids: dict[str, int] = {}
        for end in decisions.ends:
            row = self.execute(
                "UPDATE notify_episodes SET ended_at = ?, end_reason = ? "
                "WHERE instance = ? AND alert = ? AND ended_at IS NULL RETURNING id",
                (put(end.ended_at), end.reason.value, instance, end.episode.name),
            ).fetchone()
            if row is not None:
                episode_ids[end.episode.name] = int(row[0])
        now = put(decisions.effective_now)
        for message in messages:
            episode_id = episode_ids.get(message.alert) if message.kind == "resolve" else None
            if episode_id is None:
                row = self.execute(
                    "SELECT id FROM notify_episodes WHERE instance = ? AND alert = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (instance, message.alert),
                ).fetchone()
                episode_id = int(row[0])
            for key, label in channels:
                self.execute(
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
        """Give up on rows older than :data:`RETRY_FOR`, or whose channel is gone (not in a
        shared state, where it may be another host's); one line each."""
        notices: list[str] = []
        rows = self.execute(
            "SELECT id, message_id, channel_key, channel_label, created_at, attempts, last_error "
            "FROM notify_outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL ORDER BY id"
        ).fetchall()
        for row_id, message_id, key, label, created, attempts, error in rows:
            if key not in configured:
                if self.dialect.shared:
                    continue
                reason = "its channel is no longer configured"
            elif now - self.dialect.get(created) > RETRY_FOR:
                reason = (
                    f"gave up after {attempts} attempts over "
                    f"{int(RETRY_FOR.total_seconds() // 3600)} h (last error: {error or 'none'})"
                )
            else:
                continue
            self.execute(
                "UPDATE notify_outbox SET gave_up_at = ?, lease_until = NULL WHERE id = ?",
                (self.dialect.put(now), row_id),
            )
            notices.append(f"notification {message_id} to {label} dropped: {reason}")
        return notices

    def claim(
        self, now: datetime, per_row: timedelta, configured: Sequence[str], limit: int = 100
    ) -> list[Pending]:
        """The pending rows of this run's channels (``configured``: their keys; in a shared
        state another host's channel's rows are that host's) no other run is delivering, leased
        to this run for ``per_row`` each plus half a minute (a run that dies while delivering
        leaves them to the next run once the lease ends)."""
        if not configured:
            return []
        keys = ", ".join("?" * len(configured))
        rows = self.execute(
            "SELECT id, message_id, kind, alert, title, body, channel_key, channel_label, "
            "created_at, attempts FROM notify_outbox "
            f"WHERE delivered_at IS NULL AND gave_up_at IS NULL AND channel_key IN ({keys}) "
            "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT ?",
            (*configured, self.dialect.put(now), limit),
        ).fetchall()
        until = self.dialect.put(now + per_row * len(rows) + timedelta(seconds=30))
        claimed: list[Pending] = []
        for row_id, message_id, kind, alert, title, body, key, label, created, attempts in rows:
            self.execute("UPDATE notify_outbox SET lease_until = ? WHERE id = ?", (until, row_id))
            message = Message(str(message_id), kind, str(alert), str(title), str(body))
            created_at = self.dialect.get(created)
            claimed.append(
                Pending(int(row_id), message, str(key), str(label), created_at, int(attempts))
            )
        return claimed


class Marks:
    """After delivery — one short transaction each, so a crash loses at most one mark — and the
    incident log. A backend supplies :meth:`_write` and :meth:`_reading`."""

    dialect: Dialect

    def _write(self, statement: str, parameters: tuple[object, ...]) -> None:
        """Run one statement (in the driver's style) in its own transaction."""
        raise NotImplementedError

    def _reading(self) -> contextlib.AbstractContextManager[Statements | None]:
        """The statements to read with (None: the state has no tables yet); the backend's
        errors surface as :class:`StateUnavailable`."""
        raise NotImplementedError

    def _mark(self, statement: str, parameters: tuple[object, ...]) -> None:
        self._write(self.dialect.sql(statement), parameters)

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        at = self.dialect.put(now)
        self._mark(
            "UPDATE notify_outbox SET delivered_at = ?, lease_until = NULL, "
            "attempts = attempts + 1, last_attempt_at = ?, last_error = NULL WHERE id = ?",
            (at, at, row_id),
        )

    def release(self, row_id: int) -> None:
        """Give a claimed row back untried (its channel already failed in this run)."""
        self._mark("UPDATE notify_outbox SET lease_until = NULL WHERE id = ?", (row_id,))

    def mark_failed(self, row_id: int, error: str, now: datetime) -> None:
        self._mark(
            "UPDATE notify_outbox SET lease_until = NULL, attempts = attempts + 1, "
            "last_attempt_at = ?, last_error = ? WHERE id = ?",
            (self.dialect.put(now), error, row_id),
        )

    def episodes(
        self, since: datetime, until: datetime, instance: str | None = None
    ) -> list[EpisodeRecord]:
        """Episodes overlapping [since, until), oldest first, with what was delivered where."""
        with self._reading() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT id, instance, alert, severity, title, message, started_at, ended_at, "
                "end_reason, seeded FROM notify_episodes "
                "WHERE started_at < ? AND (ended_at IS NULL OR ended_at >= ?) "
                "AND (CAST(? AS TEXT) IS NULL OR instance = ?) ORDER BY started_at, id",
                (db.dialect.put(until), db.dialect.put(since), instance, instance),
            ).fetchall()
            deliveries = _deliveries(db, [int(row[0]) for row in rows])
            get = db.dialect.get
            return [
                EpisodeRecord(
                    instance=str(inst),
                    alert=str(alert),
                    severity=Severity(str(severity)),
                    title=str(title),
                    message=str(text),
                    started_at=get(started),
                    ended_at=db.maybe(ended),
                    end_reason=EndReason(str(reason)) if reason else None,
                    seeded=bool(seeded),
                    deliveries=tuple(deliveries.get(int(row_id), ())),
                )
                for row_id, inst, alert, severity, title, text, started, ended, reason, seeded in (
                    rows
                )
            ]


def _deliveries(db: Statements, ids: Sequence[int]) -> dict[int, list[Delivery]]:
    """The outbox rows of the episodes ``ids``, per episode, oldest first."""
    found: dict[int, list[Delivery]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            "SELECT episode_id, message_id, kind, channel_label, attempts, delivered_at, "
            f"last_error, gave_up_at FROM notify_outbox WHERE episode_id IN ({marks}) "
            "ORDER BY id",
            chunk,
        ).fetchall():
            episode_id, message_id, kind, label, attempts, delivered, error, gave_up = row
            found.setdefault(int(episode_id), []).append(
                Delivery(
                    str(message_id),
                    str(kind),
                    str(label),
                    int(attempts),
                    db.maybe(delivered),
                    None if error is None else str(error),
                    db.maybe(gave_up),
                )
            )
    return found
