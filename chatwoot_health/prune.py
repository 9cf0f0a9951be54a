"""Retention: delete artifact files (by name pattern) older than a cutoff, and nothing else.

Also removes this tool's own temporary files (``.tmp-*.partial``) left for more than
:data:`STALE_TEMP_AGE` by a run that was killed outright (SIGKILL, a power cut): a live write
keeps one for milliseconds.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from chatwoot_health.artifacts.index import forget
from chatwoot_health.artifacts.store import ArtifactDirectory
from chatwoot_health.fileio import is_temp_name

STALE_TEMP_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class PruneResult:
    matched: list[Path]
    deleted: int
    kept: int
    errors: list[str]
    #: Stale temporary files (deleted unless a dry run).
    stale_temp: list[Path] = field(default_factory=list)
    #: Files named like artifacts whose name is an impossible instant: left alone, and said.
    misnamed: list[str] = field(default_factory=list)


def _is_regular(path: Path) -> os.stat_result | None:
    """The file's lstat if it is a regular file (not a link, a directory, a FIFO, …)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def prune(directory: Path, older_than: timedelta, now: datetime, dry_run: bool) -> PruneResult:
    """Raises :class:`~chatwoot_health.artifacts.store.DirectoryError` for a missing or unreadable
    directory, or a path that is not one."""
    cutoff = now - older_than
    listing = ArtifactDirectory(directory)
    names, misnamed = listing.scan()
    # Only regular files: a directory or a link that happens to carry an artifact's name is not
    # ours.
    files = [(stamp, directory / name) for stamp, name in names]
    files = [(stamp, path) for stamp, path in files if _is_regular(path) is not None]
    old = [path for stamp, path in files if stamp < cutoff]
    stale_before = (now - STALE_TEMP_AGE).timestamp()
    stale = []
    for name in listing.all_names():
        if is_temp_name(name):
            path = directory / name
            info = _is_regular(path)
            if info is not None and info.st_mtime < stale_before:
                stale.append(path)
    deleted = 0
    errors: list[str] = []
    if not dry_run:
        for path in old:
            if _delete(path, errors):
                deleted += 1
        # The run index forgets them too (a file another prune deleted first included).
        forget(directory, [path.name for path in old if not os.path.lexists(path)])
        for path in stale:
            _delete(path, errors)
    return PruneResult(
        matched=old,
        deleted=deleted,
        kept=len(files) - len(old),
        errors=errors,
        stale_temp=sorted(stale),
        misnamed=[f"left {name}: {reason}" for name, reason in misnamed],
    )


def _delete(path: Path, errors: list[str]) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False  # another prune got there first
    except OSError as exc:
        errors.append(f"cannot delete {path.name}: {exc.strerror or exc}")
        return False
    return True
