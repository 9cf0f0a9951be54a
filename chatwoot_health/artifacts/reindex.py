"""``chatwoot-health index``: rebuild the run index from the files, or compare the two.

Rarely needed (the index notices changed, replaced and deleted files by itself); for the person who
wants to see it, or to fill it at once after an upgrade instead of over the next reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from chatwoot_health.artifacts.fast import DetailedRunRecord, IndexedRun, RunHead
from chatwoot_health.artifacts.index import Identity, IndexUnavailable, RunIndex, bucket_keys
from chatwoot_health.artifacts.store import ArtifactDirectory, indexable

#: Rows written per transaction by a rebuild: others wait for at most one batch.
BATCH = 1000
#: A rebuild waits this long for another run's transaction (a report's is milliseconds).
REBUILD_BUSY_TIMEOUT = 10.0


class IndexCommandError(Exception):
    """The index cannot be opened or written (exit UNKNOWN, one line)."""


@dataclass
class Rebuilt:
    path: Path
    indexed: int
    files: int
    #: Files named like artifacts that the index does not hold (not valid artifacts: a report
    #: skips them, or reads them with the full model).
    unindexable: int


@dataclass
class Comparison:
    path: Path | None
    rows: int = 0
    files: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return self.path is not None and not self.differences


def rebuild(directory: Path) -> Rebuilt:
    """Drop every row and index every artifact file of ``directory`` again."""
    listing = ArtifactDirectory(directory)  # DirectoryError for a missing directory
    runs = RunIndex.open(directory, busy_timeout=REBUILD_BUSY_TIMEOUT)
    if runs is None:
        raise IndexCommandError(f"the run index of {directory} cannot be used")
    base = os.fspath(directory) + os.sep
    names, _misnamed = listing.scan()
    indexed = 0
    with runs:
        try:
            runs.clear()
        except IndexUnavailable as exc:
            raise IndexCommandError(str(exc)) from None
        batch: list[tuple[str, Identity, DetailedRunRecord]] = []
        for position, (_stamp, name) in enumerate(names, 1):
            found = indexable(base + listing.relpath(name))
            if found is not None:
                batch.append((name, *found))
            if len(batch) == BATCH or (position == len(names) and batch):
                if not runs.update(batch):
                    raise IndexCommandError(f"cannot write {runs.path}")
                indexed += len(batch)
                batch = []
        return Rebuilt(runs.path, indexed, len(names), len(names) - indexed)


def compare(directory: Path) -> Comparison:
    """Every difference between the index and the files: a file without its row (one a report
    can index), a row whose file changed or is gone, a damaged row, a row whose run is not the
    file's."""
    listing = ArtifactDirectory(directory)
    runs = RunIndex.open(directory, create=False)
    if runs is None:
        return Comparison(None)
    base = os.fspath(directory) + os.sep
    names, _misnamed = listing.scan()
    with runs:
        try:
            rows = runs.rows()
        except IndexUnavailable as exc:
            raise IndexCommandError(str(exc) or f"{runs.path} is locked") from None
        result = Comparison(runs.path, rows=len(rows), files=len(names))
        for _stamp, name in names:
            row = rows.pop(name, None)
            found = indexable(base + listing.relpath(name))
            if row is None:
                if found is not None:
                    result.differences.append(f"not indexed: {name}")
            elif found is None or row.identity != found[0]:
                result.differences.append(f"changed since indexed: {name}")
            elif (decoded := runs.decode(row.blob, detailed=True)) is None or (
                (head := runs.indexed_run(row)) is None
            ):
                result.differences.append(f"damaged row: {name}")
            elif msgspec.msgpack.encode(decoded) != msgspec.msgpack.encode(found[1]) or (
                _head(head) != RunHead.of(found[1]) or row.keys != bucket_keys(found[1])
            ):
                # (compared as encoded: the file's record is of the checked subclass)
                result.differences.append(f"row differs from the file: {name}")
        result.differences.extend(f"row without a file: {name}" for name in sorted(rows))
    return result


def _head(run: IndexedRun) -> RunHead:
    return RunHead(
        run.checked_at, run.status, run.instance, run.location, run.liveness, run.latencies
    )
