"""``serve`` over the shared store (issue #14): a connection pool, and a cheap sign of new runs.

With ``CHATWOOT_HEALTH_STORE`` set, ``serve``'s reports read every location's runs from the store
through ``report``'s own function, as the CLI does; this module gives them a
``psycopg_pool.ConnectionPool`` (a long-running process should not open a connection per report,
and ``check``/``report``, which run once, keep connecting directly) owned by the app's lifespan:
opened at start without waiting (a store that is down does not keep the server from starting),
closed at shutdown.

The reports' cache must also notice runs that other locations store. :meth:`StorePool.marker`
is one small query — the number of runs in the last :data:`MARKER_SPAN` and the latest
``checked_at`` — polled every ``serve.app.STORE_POLL_SECONDS`` off the event loop; it changes
whenever a run is stored (a backlog too) or pruned, and never reads the runs themselves.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chatwoot_health.store.db import CONNECT_TIMEOUT, connect_settings, describe

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from chatwoot_health.notify.state_flow import EpisodeRecord

log = logging.getLogger("chatwoot_health.serve")

#: The marker counts the runs of this span (the default report window and a day of backlog).
MARKER_SPAN = timedelta(days=31)
#: Connections kept open: the reports are computed one at a time, the marker beside them.
MIN_SIZE, MAX_SIZE = 1, 2
#: The marker of a store that cannot be asked (its runs' reports fall back to the files).
UNREACHABLE = ("unreachable",)
Marker = tuple[object, ...]


class StorePool:
    """The pool the app's lifespan owns; :meth:`open` and :meth:`close` never raise."""

    def __init__(self, dsn: str) -> None:
        from psycopg_pool import ConnectionPool

        self.dsn = dsn
        self.where = describe(dsn)
        self.pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
            dsn,
            # store.db.connect's settings (nothing prepared: a transaction-mode pooler too)
            kwargs=dict(connect_settings(application_name="chatwoot-health serve")),
            min_size=MIN_SIZE,
            max_size=MAX_SIZE,
            open=False,
            # a connection the store dropped (a restart) is noticed before it is handed out
            check=ConnectionPool.check_connection,
            # waiting for a connection: a store that does not answer costs a report this long,
            # then the report reads the local files
            timeout=CONNECT_TIMEOUT,
            name="chatwoot-health",
        )

    def open(self) -> None:
        # The pool says every failed attempt to connect (it retries with a back-off); the app
        # says once that the store cannot be read and once that it answers again.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        self.pool.open(wait=False)
        log.info("reading the runs from the store %s", self.where)

    def close(self, timeout: float = 5.0) -> None:
        self.pool.close(timeout=timeout)

    @property
    def closed(self) -> bool:
        return bool(self.pool.closed)

    def marker(self, now: datetime) -> Marker:
        """What changes when a run is stored or pruned: the runs of the last month and the
        latest one. :data:`UNREACHABLE` when the store cannot be asked."""
        import psycopg

        try:
            with self.pool.connection() as connection:
                row = connection.execute(
                    "SELECT count(*), max(checked_at) FROM health_runs WHERE checked_at > %s",
                    (now - MARKER_SPAN,),
                ).fetchone()
        except psycopg.Error:  # the pool's PoolTimeout and PoolClosed too
            return UNREACHABLE
        return tuple(row) if row else UNREACHABLE

    def episodes(self, since: datetime, until: datetime) -> list[EpisodeRecord]:
        """The incident log's episodes from the alert state the hosts share in the store
        (every instance, oldest first); raises ``StateUnavailable`` (one line, no password)."""
        import psycopg

        from chatwoot_health.notify.state import StateUnavailable
        from chatwoot_health.notify.state_pg import PgNotifyStore

        try:
            with self.pool.connection() as connection:
                return PgNotifyStore(connection, "").episodes(since, until)
        except psycopg.Error:  # no connection within CONNECT_TIMEOUT (PoolTimeout), or closed
            raise StateUnavailable(
                f"the store {self.where} did not answer within {CONNECT_TIMEOUT} s"
            ) from None
