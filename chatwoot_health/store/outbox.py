"""The runs a host could not send to the store, remembered beside its artifacts.

One table, ``store_outbox`` (the artifact file names), in the state file beside the artifacts
(``.chatwoot-health.db``, which the run index and the local notification state share, each in
tables of its own). ``check`` adds its run's name when the store cannot take it, and sends the
backlog with its next run; the store's unique artifact id makes a resend harmless, so a name is
removed only after its run is stored — no gap, no duplicate. ALL of its SQL is here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from chatwoot_health import sqlite
from chatwoot_health.sqlite import DB_NAME

BUSY_TIMEOUT = 2.0
#: The most backlog one run sends (a week of a 5-minute cron); the rest go with the next runs.
SEND_PER_RUN = 2000

_SCHEMA = "CREATE TABLE IF NOT EXISTS store_outbox (name TEXT PRIMARY KEY) WITHOUT ROWID"


class OutboxError(Exception):
    """The outbox could not be used; one line."""


def _open(directory: Path) -> sqlite3.Connection:
    try:
        db = sqlite.connect(directory / DB_NAME, BUSY_TIMEOUT)
        db.execute(_SCHEMA)
    except sqlite3.Error as exc:
        raise OutboxError(f"the store's outbox in {directory / DB_NAME}: {exc}") from None
    return db


def add(directory: Path, names: Sequence[str]) -> None:
    db = _open(directory)
    try:
        db.executemany(
            "INSERT OR IGNORE INTO store_outbox (name) VALUES (?)", [(n,) for n in names]
        )
    except sqlite3.Error as exc:
        raise OutboxError(f"the store's outbox in {directory / DB_NAME}: {exc}") from None
    finally:
        db.close()


def pending(directory: Path, limit: int = SEND_PER_RUN) -> list[str]:
    """The names waiting, oldest first (names sort as time). No file, no table: none, and
    nothing is created."""
    path = directory / DB_NAME
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error:
        return []
    try:
        rows = db.execute("SELECT name FROM store_outbox ORDER BY name LIMIT ?", (limit,))
        return [str(name) for (name,) in rows]
    except sqlite3.Error:
        return []  # no outbox table yet: nothing waits
    finally:
        db.close()


def remove(directory: Path, names: Sequence[str]) -> None:
    if not names:
        return
    db = _open(directory)
    try:
        db.executemany("DELETE FROM store_outbox WHERE name = ?", [(n,) for n in names])
    except sqlite3.Error as exc:
        raise OutboxError(f"the store's outbox in {directory / DB_NAME}: {exc}") from None
    finally:
        db.close()
