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
timeout let an overlapping run wait for it instead of failing. The statements themselves are
:mod:`.state_flow`'s, shared with the PostgreSQL backend (:mod:`.state_pg`); this module keeps the
SQLite schema, its spelling (:data:`DIALECT`), opening, locking and its errors.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from chatwoot_health import sqlite
from chatwoot_health.notify.state_flow import (
    RETRY_FOR,
    Delivery,
    EpisodeRecord,
    Marks,
    Pending,
    Statements,
    StateUnavailable,
    Transaction,
)
from chatwoot_health.timeutil import sortable_text

__all__ = [
    "BUSY_TIMEOUT",
    "RETRY_FOR",
    "Delivery",
    "EpisodeRecord",
    "NotifyStore",
    "Pending",
    "StateCorrupt",
    "StateLocked",
    "StateReadOnly",
    "StateUnavailable",
    "Transaction",
]

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 5.0  # seconds an overlapping run waits for the other's transaction

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


class StateLocked(StateUnavailable):
    pass


class StateReadOnly(StateUnavailable):
    pass


class StateCorrupt(StateUnavailable):
    pass


class StateNewer(StateCorrupt):
    """Written by a newer chatwoot-health (after a downgrade): this version cannot read it, so
    it is moved aside like a damaged one and the open alerts are rebuilt from the artifacts —
    the history is kept in the moved file, the outage still reaches people."""


class _SqliteDialect:
    """Instants as ISO 8601 UTC text with microseconds (sorts as text)."""

    greatest = "max"
    shared = False

    def sql(self, statement: str) -> str:
        return statement

    def put(self, moment: datetime) -> object:
        return sortable_text(moment)

    def get(self, value: object) -> datetime:
        return datetime.fromisoformat(str(value)).astimezone(UTC)


DIALECT = _SqliteDialect()


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


class NotifyStore(Marks):
    """The state database at ``path``. Open errors surface as :class:`StateUnavailable`."""

    dialect = DIALECT

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
                raise StateNewer(
                    f"{self.path} was written by a newer chatwoot-health (schema {version}, "
                    f"this one knows {SCHEMA_VERSION})"
                )
            fresh = version == 0
            if fresh:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            yield Transaction(db, DIALECT, fresh)
            db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise

    def quarantine(self, now: datetime) -> Path:
        """Move an unreadable database (and its WAL files) aside as ``<name>.corrupt-<time>``;
        :class:`StateUnavailable` when it cannot be moved (this run then sends nothing)."""
        self.close()
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                source = self.path.with_name(self.path.name + suffix)
                if source.exists():
                    source.replace(self.path.with_name(f"{self.path.name}{suffix}.corrupt-{stamp}"))
        except OSError as exc:
            raise StateUnavailable(
                f"cannot move {self.path} aside ({exc.strerror or exc})"
            ) from None
        return target

    # -- after delivery, and the incident log: the flow's (:class:`.state_flow.Marks`) --------

    def _write(self, statement: str, parameters: tuple[object, ...]) -> None:
        db = self._connect()
        try:
            db.execute(statement, parameters)
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Statements | None]:
        db = self._connect()
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) == 0:
                yield None
            else:
                yield Statements(db, DIALECT)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
