"""The store's connection, made while the probes wait on the network.

Importing psycopg costs a ``check`` process ~50–70 ms, more than the store's whole budget
(issue #14: under 50 ms on loopback), and connecting adds a round trip or two. Neither needs the
run's result, so :class:`EarlyConnection` does both on a thread started before the probes: the
probes mostly wait on sockets (the GIL is free then), and the run takes the connection once its
artifact is written. A store that cannot be reached is the same one-line ``StoreError`` as
before, only found out sooner; a connection nobody takes is closed by :meth:`close`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[object, ...]]


class EarlyConnection:
    """``store.db.connect(dsn)`` on a daemon thread, started at once; :meth:`take` waits for it.
    The thread also imports the store's write path (:mod:`chatwoot_health.store.send`)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: Connection | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._connect, name="store-connect", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        try:
            import chatwoot_health.store.send  # noqa: F401  (what the write needs, loaded here)
            from chatwoot_health.store.db import connect

            self._connection = connect(self._dsn)
        except BaseException as exc:  # handed to the run's thread by take()
            self._error = exc

    def take(self) -> Connection:
        """The open connection (the caller closes it), or the ``StoreError`` that connecting
        raised (any other exception is a bug and is raised as it was)."""
        self._thread.join()
        self._taken = True
        if self._error is not None:
            raise self._error
        assert self._connection is not None
        return self._connection

    def close(self) -> None:
        """Close a connection that was never taken (the run stopped before its write)."""
        self._thread.join()
        if not self._taken and self._connection is not None:
            self._connection.close()
