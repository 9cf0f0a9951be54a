"""``check``'s side of the store: send this run (and the backlog), read the other locations.

A run is always written to its local artifact first; the store is a copy every host shares. When
the store cannot take it (unreachable, slow, no schema, an older schema), the run's name goes to
the local outbox (:mod:`.outbox`) and the next run sends it: one warning line, never a lost run
or a changed exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.quorum import location_of
from chatwoot_health.store import outbox
from chatwoot_health.store.db import StoreError, connect
from chatwoot_health.store.write import StoredRun, write_runs

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[object, ...]]

#: How far back the other locations' runs are read for the quorum (service_down's streaks).
PEERS_LOOKBACK = timedelta(hours=1)
#: How far back a location that stopped reporting is still remembered (probe_host_silent).
SILENT_LOOKBACK = timedelta(days=7)


@dataclass
class Sent:
    #: Open when the run was stored: the alert step reads and decides over it (closed by
    #: the caller). None: the store could not be used this run.
    connection: Connection | None = None
    stored: int = 0
    problems: list[str] = field(default_factory=list)


def send_run(
    dsn: str, directory: Path, written: Path | None, artifact: Artifact, location: str | None
) -> Sent:
    """Store this run and the runs the outbox holds, in one transaction; never raises."""
    here = location or ""
    name = written.name if written is not None else None
    backlog = [n for n in outbox.pending(directory) if n != name] if written else []
    runs = [StoredRun.of(name or _unwritten_id(artifact), artifact, here)]
    unreadable: list[str] = []
    for other in backlog:
        from chatwoot_health.artifacts.store import load_artifact, locate

        try:
            runs.append(StoredRun.of(other, load_artifact(locate(directory, other)), here))
        except ValueError:
            unreadable.append(other)  # deleted or damaged since: nothing left to send
    connection = None
    try:
        connection = connect(dsn)
        stored = write_runs(connection, dsn, runs)
    except StoreError as exc:
        if connection is not None:
            connection.close()
        return Sent(problems=[_kept(str(exc), written, directory)])
    problems: list[str] = []
    try:
        outbox.remove(directory, [*backlog, *unreadable])
    except outbox.OutboxError as exc:
        problems.append(f"{exc} (the backlog is sent again next run, harmlessly)")
    return Sent(connection, stored, problems)


def _unwritten_id(artifact: Artifact) -> str:
    from chatwoot_health.artifacts.store import artifact_name

    return artifact_name(artifact.checked_at).removesuffix(".json")


def _kept(problem: str, written: Path | None, directory: Path) -> str:
    if written is None:
        return f"{problem}; this run (whose artifact could not be written) is not stored"
    try:
        outbox.add(directory, [written.name])
    except outbox.OutboxError as exc:
        return f"{problem}; and {exc}: {written.name} is not sent later"
    return f"{problem}; the run is kept in {written} and sent with the next run"


@dataclass(frozen=True)
class Peers:
    """What the store says of the other probe locations, for the quorum."""

    location: str
    #: The other locations' runs of the last :data:`PEERS_LOOKBACK`, oldest first.
    runs: Sequence[ArtifactCore]
    #: Every location's latest run over :data:`SILENT_LOOKBACK` (this one's included).
    last_seen: dict[str, datetime]

    def merged(self, local: Sequence[ArtifactCore]) -> list[ArtifactCore]:
        """This host's runs (the files) and the others' (the store), oldest first."""
        others = [run for run in self.runs if location_of(run, self.location) != self.location]
        return sorted([*local, *others], key=lambda run: run.checked_at)


def read_peers(
    connection: Connection, dsn: str, artifact: Artifact, location: str, now: datetime
) -> Peers:
    """The other locations' recent runs of this instance; raises ValueError (one line)."""
    from chatwoot_health.store import runs  # the alert step's only: the report's module

    try:
        others, seen = runs.read_peers(
            connection, dsn, artifact.instance, location, now - PEERS_LOOKBACK,
            now - SILENT_LOOKBACK, now,
        )  # fmt: skip
    except StoreError as exc:
        raise ValueError(f"quorum from this location alone: {exc}") from None
    seen[location] = max(seen.get(location, artifact.checked_at), artifact.checked_at)
    return Peers(location, others, seen)
