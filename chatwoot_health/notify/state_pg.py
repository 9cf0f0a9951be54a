"""The shared notification state in the store's PostgreSQL, and ALL of its SQL (issue #14).

The same tables as the SQLite state (:mod:`.state`), made by ``chatwoot-health store migrate``
(``notify_episodes`` with a partial unique index on the open episode of an (instance, alert),
``notify_outbox`` unique on (message id, channel), ``notify_runs``), and the same
:class:`Transaction` methods, so :func:`chatwoot_health.notify.engine.notify` runs unchanged over
either. Every probe host writes here: one run's decision is one transaction under a
transaction-scoped advisory lock, so hosts that see one outage at once decide one after the other
and the second finds the episode open — one message. Deliveries are leased like the SQLite
outbox: a host that dies mid-delivery leaves the row to the next run once its lease ends.

The statements are :mod:`.state_flow`'s, shared with the SQLite state; this module keeps
PostgreSQL's spelling (:data:`DIALECT`: ``%s``, ``greatest``, timestamptz), the advisory lock,
the transactions over the caller's connection and its errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from chatwoot_health.notify.state_flow import (
    Marks,
    Statements,
    StateUnavailable,
    Transaction,
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


class _PgDialect:
    """psycopg's ``%s`` placeholders; instants as timestamptz (aware datetimes both ways)."""

    greatest = "greatest"
    shared = True

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def put(self, moment: datetime) -> object:
        return moment

    def get(self, value: object) -> datetime:
        assert isinstance(value, datetime)
        return value


DIALECT = _PgDialect()


class PgNotifyStore(Marks):
    """The shared state over an open store connection (the caller's, closed by the caller)."""

    dialect = DIALECT

    def __init__(self, connection: Connection, instance: str) -> None:
        self._db = connection
        self._instance = instance

    def __enter__(self) -> PgNotifyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        import psycopg

        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                tx = Transaction(self._db, DIALECT, fresh=False)
                # The instance is new to the shared state (its first run here, e.g. after
                # moving from the local state): the previous run's alerts are seeded, not sent.
                tx.fresh = tx.last_run(self._instance) is None
                yield tx
        except psycopg.Error as exc:
            raise _unavailable(exc) from None

    def quarantine(self, now: datetime) -> Path:  # pragma: no cover - never corrupt
        raise StateUnavailable("the store's notification state cannot be moved aside")

    def _write(self, statement: str, parameters: tuple[object, ...]) -> None:
        import psycopg

        try:
            with self._db.transaction():
                self._db.execute(statement, parameters)
        except psycopg.Error as exc:
            raise _unavailable(exc) from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Statements | None]:
        import psycopg

        try:
            yield Statements(self._db, DIALECT)
        except psycopg.Error as exc:
            raise _unavailable(exc) from None
