"""``check``'s write to the store: a run (and the backlog) in one transaction, one pipeline.

Apart from :mod:`.runs` (the report's queries and their dataclasses), so that a ``check`` with a
store imports only what its write needs. ``ON CONFLICT DO NOTHING`` on the artifact id: a run
sent twice (a retry, a backlog that was in fact stored) is stored once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatwoot_health.models.artifact import Artifact
from chatwoot_health.store.db import check_version, error
from chatwoot_health.timeutil import as_written

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[object, ...]]

_INSERT = (
    "INSERT INTO health_runs (artifact_id, checked_at, instance, location, status, liveness, "
    "artifact) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class StoredRun:
    """One run as the store keeps it."""

    artifact_id: str  # the artifact file's name without ``.json``
    artifact: Artifact
    location: str  # the artifact's own, or this host's for an artifact without one

    @classmethod
    def of(cls, name: str, artifact: Artifact, default_location: str) -> StoredRun:
        return cls(name.removesuffix(".json"), artifact, artifact.location or default_location)


def write_runs(connection: Connection, dsn: str, runs: Sequence[StoredRun]) -> int:
    """Store ``runs`` in one transaction; how many were new. Raises ``StoreError``.

    The transaction's statements (BEGIN, the months' partitions and the schema version, the
    inserts) go in one pipeline — one round trip, and a second for COMMIT (or ROLLBACK when the
    schema's version is not this code's)."""
    import psycopg

    if not runs:
        return 0
    moments = sorted({run.artifact.checked_at for run in runs})
    months = (moments[0], moments[-1]) if len(moments) > 1 else moments[:1]
    rows = [
        (
            run.artifact_id,
            as_written(run.artifact.checked_at),
            run.artifact.instance,
            run.location,
            run.artifact.status.value,
            run.artifact.liveness,
            run.artifact.to_json(),
        )
        for run in runs
    ]
    pipelined = psycopg.Pipeline.is_supported()
    try:
        with (
            connection.pipeline() if pipelined else contextlib.nullcontext(),
            connection.transaction(),
            connection.cursor() as inserts,
        ):
            prepared = [
                connection.execute("SELECT chatwoot_health_prepare(%s)", (moment,))
                for moment in months
            ]
            if pipelined:
                inserts.executemany(_INSERT, rows)
            for cursor in prepared:  # the first fetch sends the pipeline and waits: one trip
                row = cursor.fetchone()
                check_version(row[0] if row else None, dsn)  # raising rolls the inserts back
            if not pipelined:
                inserts.executemany(_INSERT, rows)
            added = inserts.rowcount  # the inserts' results came with the versions'
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot write to") from None
    return max(added, 0)
