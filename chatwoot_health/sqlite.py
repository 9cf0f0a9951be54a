"""Opening the one embedded database beside the artifacts (alert state, outbox, run index).

Every module that keeps state in ``.chatwoot-health.db`` opens it here, so the connection
settings are the same for all of them. Turning a brand-new file into WAL mode takes a lock
that SQLite's busy handler does not wait for: two runs that create the file in the same
instant can see ``database is locked`` at once. The switch is retried here until the busy
timeout, like every other lock wait.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

#: The file's name beside the artifacts.
DB_NAME = ".chatwoot-health.db"
_RETRY_EVERY = 0.02


def is_busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (as opposed to a broken or unwritable file)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc).lower()


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, ``synchronous=NORMAL``.

    Raises :class:`sqlite3.Error` as SQLite reports it; a lock held past ``busy_timeout``
    surfaces as the usual ``database is locked``.
    """
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    deadline = time.monotonic() + busy_timeout
    try:
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(_RETRY_EVERY)
        db.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        db.close()
        raise
    return db
