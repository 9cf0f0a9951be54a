"""The shared notification state in the store's PostgreSQL, and ALL of its SQL (issue #14).

The same tables as the SQLite state (:mod:`.state`), made by ``chatwoot-health store migrate``
(``notify_episodes`` with a partial unique index on the open episode of an (instance, alert),
``notify_outbox`` unique on (message id, channel), ``notify_runs``), and the same
:class:`Transaction` methods, so :func:`chatwoot_health.notify.engine.notify` runs unchanged over
either. Every probe host writes here: one run's decision is one transaction under a
transaction-scoped advisory lock, so hosts that see one outage at once decide one after the other
and the second finds the episode open — one message. Deliveries are leased like the SQLite
outbox: a host that dies mid-delivery leaves the row to the next run once its lease ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.notify.decide import Decisions, EndReason, OpenEpisode
from chatwoot_health.notify.messages import Message
from chatwoot_health.notify.state import (
    RETRY_FOR,
    Delivery,
    EpisodeRecord,
    Pending,
    StateUnavailable,
)
from chatwoot_health.redact import redact_url

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[object, ...]]

#: pg_advisory_xact_lock's key for the decision transaction (any constant unique to this tool).
LOCK_KEY = 7314021402


def _unavailable(exc: BaseException) -> StateUnavailable:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return StateUnavailable(redact_url(f"the store's notification state: {detail}"))


def _instant(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value


def _maybe(value: object) -> datetime | None:
    return None if value is None else _instant(value)


class PgTransaction:
    """The statements of one run, inside one transaction holding the advisory lock."""

    def __init__(self, connection: Connection, fresh: bool) -> None:
        self._db = connection
        self.fresh = fresh

    def last_run(self, instance: str) -> datetime | None:
        row = self._db.execute(
            "SELECT last_run_at FROM notify_runs WHERE instance = %s", (instance,)
        ).fetchone()
        return None if row is None else _instant(row[0])

    def record_run(self, instance: str, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO notify_runs (instance, last_run_at) VALUES (%s, %s) "
            "ON CONFLICT (instance) DO UPDATE SET last_run_at = "
            "greatest(notify_runs.last_run_at, excluded.last_run_at)",
            (instance, at),
        )

    def open_episodes(self, instance: str) -> list[OpenEpisode]:
        rows = self._db.execute(
            "SELECT alert, severity, title, message, started_at, pushed FROM notify_episodes "
            "WHERE instance = %s AND ended_at IS NULL ORDER BY id",
            (instance,),
        ).fetchall()
        return [
            OpenEpisode(
                str(name), Severity(str(sev)), str(title), str(text), _instant(at), bool(pushed)
            )
            for name, sev, title, text, at, pushed in rows
        ]

    def bootstrap(
        self, instance: str, previous_alerts: Sequence[Alert], at: datetime, pushed: frozenset[str]
    ) -> int:
        """As :meth:`.state.Transaction.bootstrap`: the alerts of the previous run, recorded as
        open and already sent (this instance is new to the shared state)."""
        seeded = 0
        for alert in previous_alerts:
            started = min(alert.since, at) if alert.since is not None else at
            cursor = self._db.execute(
                "INSERT INTO notify_episodes (instance, alert, severity, title, message, "
                "started_at, pushed, seeded) VALUES (%s, %s, %s, %s, %s, %s, %s, true) "
                "ON CONFLICT DO NOTHING",
                (
                    instance,
                    alert.name,
                    alert.severity.value,
                    alert.title,
                    alert.message,
                    started,
                    alert.name in pushed,
                ),
            )
            seeded += max(cursor.rowcount, 0)
        return seeded

    def adopt(
        self,
        instance: str,
        alerts: Sequence[Alert],
        now: datetime,
        previous_alerts: Callable[[], Sequence[Alert]],
    ) -> list[str]:
        """As :meth:`.state.Transaction.adopt`."""
        last = self.last_run(instance)
        if last is None or last <= now:
            return []
        rows = self._db.execute(
            "SELECT alert FROM notify_episodes AS e WHERE instance = %s AND ended_at IS NULL "
            "AND seeded AND NOT EXISTS (SELECT 1 FROM notify_outbox WHERE episode_id = e.id)",
            (instance,),
        ).fetchall()
        seeds = {str(row[0]) for row in rows} & {alert.name for alert in alerts}
        if not seeds:
            return []
        adopted = sorted(seeds - {alert.name for alert in previous_alerts()})
        for name in adopted:
            self._db.execute(
                "DELETE FROM notify_episodes WHERE instance = %s AND alert = %s "
                "AND ended_at IS NULL AND seeded",
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
        for start in decisions.starts:
            alert = start.alert
            self._db.execute(
                "INSERT INTO notify_episodes (instance, alert, severity, title, message, "
                "started_at, pushed) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    instance,
                    alert.name,
                    alert.severity.value,
                    alert.title,
                    alert.message,
                    start.started_at,
                    start.push,
                ),
            )
        episode_ids: dict[str, int] = {}
        for end in decisions.ends:
            row = self._db.execute(
                "UPDATE notify_episodes SET ended_at = %s, end_reason = %s "
                "WHERE instance = %s AND alert = %s AND ended_at IS NULL RETURNING id",
                (end.ended_at, end.reason.value, instance, end.episode.name),
            ).fetchone()
            if row is not None:
                episode_ids[end.episode.name] = int(row[0])  # type: ignore[call-overload]
        for message in messages:
            episode_id = episode_ids.get(message.alert) if message.kind == "resolve" else None
            if episode_id is None:
                row = self._db.execute(
                    "SELECT id FROM notify_episodes WHERE instance = %s AND alert = %s "
                    "ORDER BY id DESC LIMIT 1",
                    (instance, message.alert),
                ).fetchone()
                assert row is not None
                episode_id = int(row[0])  # type: ignore[call-overload]
            for key, label in channels:
                self._db.execute(
                    "INSERT INTO notify_outbox (episode_id, message_id, kind, alert, title, body, "
                    "channel_key, channel_label, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
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
                        decisions.effective_now,
                    ),
                )

    def expire(self, now: datetime, configured: Sequence[str]) -> list[str]:
        """Give up on rows older than ``RETRY_FOR``. A channel this host does not know may be
        another host's: it is left to that host (unlike the SQLite state, which is one host's)."""
        rows = self._db.execute(
            "UPDATE notify_outbox SET gave_up_at = %s, lease_until = NULL "
            "WHERE delivered_at IS NULL AND gave_up_at IS NULL AND created_at < %s "
            "AND channel_key = ANY(%s) RETURNING message_id, channel_label, attempts, last_error",
            (now, now - RETRY_FOR, list(configured)),
        ).fetchall()
        hours = int(RETRY_FOR.total_seconds() // 3600)
        return [
            f"notification {message_id} to {label} dropped: gave up after {attempts} attempts "
            f"over {hours} h (last error: {error or 'none'})"
            for message_id, label, attempts, error in rows
        ]

    def claim(self, now: datetime, per_row: timedelta, limit: int = 100) -> list[Pending]:
        """The pending rows of this host's channels that no host is delivering, leased."""
        rows = self._db.execute(
            "SELECT id, message_id, kind, alert, title, body, channel_key, channel_label, "
            "created_at, attempts FROM notify_outbox "
            "WHERE delivered_at IS NULL AND gave_up_at IS NULL "
            "AND (lease_until IS NULL OR lease_until <= %s) ORDER BY id LIMIT %s",
            (now, limit),
        ).fetchall()
        until = now + per_row * len(rows) + timedelta(seconds=30)
        claimed: list[Pending] = []
        for row_id, message_id, kind, alert, title, body, key, label, created, attempts in rows:
            self._db.execute(
                "UPDATE notify_outbox SET lease_until = %s WHERE id = %s", (until, row_id)
            )
            message = Message(str(message_id), str(kind), str(alert), str(title), str(body))  # type: ignore[arg-type]
            claimed.append(
                Pending(
                    int(row_id),  # type: ignore[call-overload]
                    message,
                    str(key),
                    str(label),
                    _instant(created),
                    int(attempts),  # type: ignore[call-overload]
                )
            )
        return claimed


class PgNotifyStore:
    """The shared state over an open store connection (the caller's, closed by the caller)."""

    def __init__(self, connection: Connection, instance: str) -> None:
        self._db = connection
        self._instance = instance

    @property
    def _fresh(self) -> bool:
        """The instance is new to the shared state (its first run here, e.g. after moving from
        the local state): the previous run's alerts are seeded, not sent again."""
        row = self._db.execute(
            "SELECT 1 FROM notify_runs WHERE instance = %s", (self._instance,)
        ).fetchone()
        return row is None

    def __enter__(self) -> PgNotifyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PgTransaction]:
        import psycopg

        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                yield PgTransaction(self._db, fresh=self._fresh)
        except psycopg.Error as exc:
            raise _unavailable(exc) from None

    def quarantine(self, now: datetime) -> Path:  # pragma: no cover - never corrupt
        raise StateUnavailable("the store's notification state cannot be moved aside")

    def _write(self, sql: str, parameters: tuple[object, ...]) -> None:
        import psycopg

        try:
            with self._db.transaction():
                self._db.execute(sql, parameters)
        except psycopg.Error as exc:
            raise _unavailable(exc) from None

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        self._write(
            "UPDATE notify_outbox SET delivered_at = %s, lease_until = NULL, "
            "attempts = attempts + 1, last_attempt_at = %s, last_error = NULL WHERE id = %s",
            (now, now, row_id),
        )

    def release(self, row_id: int) -> None:
        self._write("UPDATE notify_outbox SET lease_until = NULL WHERE id = %s", (row_id,))

    def mark_failed(self, row_id: int, error: str, now: datetime) -> None:
        self._write(
            "UPDATE notify_outbox SET lease_until = NULL, attempts = attempts + 1, "
            "last_attempt_at = %s, last_error = %s WHERE id = %s",
            (now, error, row_id),
        )

    def episodes(
        self, since: datetime, until: datetime, instance: str | None = None
    ) -> list[EpisodeRecord]:
        """Episodes overlapping [since, until), oldest first, with their deliveries."""
        import psycopg

        try:
            rows = self._db.execute(
                "SELECT id, instance, alert, severity, title, message, started_at, ended_at, "
                "end_reason, seeded FROM notify_episodes "
                "WHERE started_at < %s AND (ended_at IS NULL OR ended_at >= %s) "
                "AND (%s::text IS NULL OR instance = %s) ORDER BY started_at, id",
                (until, since, instance, instance),
            ).fetchall()
            deliveries: dict[int, list[Delivery]] = {}
            for row in self._db.execute(
                "SELECT episode_id, message_id, kind, channel_label, attempts, delivered_at, "
                "last_error, gave_up_at FROM notify_outbox WHERE episode_id = ANY(%s) ORDER BY id",
                ([r[0] for r in rows],),
            ):
                episode_id, message_id, kind, label, attempts, delivered, error, gave_up = row
                deliveries.setdefault(int(episode_id), []).append(  # type: ignore[call-overload]
                    Delivery(
                        str(message_id),
                        str(kind),
                        str(label),
                        int(attempts),  # type: ignore[call-overload]
                        _maybe(delivered),
                        None if error is None else str(error),
                        _maybe(gave_up),
                    )
                )
        except psycopg.Error as exc:
            raise _unavailable(exc) from None
        return [
            EpisodeRecord(
                instance=str(inst),
                alert=str(alert),
                severity=Severity(str(severity)),
                title=str(title),
                message=str(text),
                started_at=_instant(started),
                ended_at=_maybe(ended),
                end_reason=EndReason(str(reason)) if reason else None,
                seeded=bool(seeded),
                deliveries=tuple(deliveries.get(int(row_id), ())),  # type: ignore[call-overload]
            )
            for row_id, inst, alert, severity, title, text, started, ended, reason, seeded in rows
        ]
