"""Retention: delete artifact files (by name pattern) older than a cutoff, and nothing else.

Also tidies the layout: a kept file at the top level of the directory (where versions before
the month directories wrote) is moved into its month's directory, and a month directory before
the cutoff's month that pruning left empty is removed.

Also removes this tool's own temporary files (``.tmp-*.partial``) left for more than
:data:`STALE_TEMP_AGE` by a run that was killed outright (SIGKILL, a power cut): a live write
keeps one for milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from chatwoot_health.artifacts.index import forget
from chatwoot_health.artifacts.store import (
    ArtifactDirectory,
    ArtifactWriteError,
    DirectoryError,
    month_directory,
    month_of,
    month_of_name,
)
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
    #: Entries named like artifacts that are not read (an impossible instant, a file in another
    #: month's directory, …): left alone, and said.
    misnamed: list[str] = field(default_factory=list)
    #: Kept files found at the top level (the layout before the month directories): moved into
    #: their month's directory (unless a dry run).
    moved: list[Path] = field(default_factory=list)


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
    files = [(stamp, name, listing.file(name)) for stamp, name in names]
    files = [(stamp, name, path) for stamp, name, path in files if _is_regular(path) is not None]
    old = [(name, path) for stamp, name, path in files if stamp < cutoff]
    at_top = set(listing.at_top())
    move = [(name, path) for stamp, name, path in files if stamp >= cutoff and name in at_top]
    stale_before = (now - STALE_TEMP_AGE).timestamp()
    stale = []
    for entry in listing.entries():
        if is_temp_name(os.path.basename(entry)):
            path = directory / entry
            info = _is_regular(path)
            if info is not None and info.st_mtime < stale_before:
                stale.append(path)
    deleted = 0
    moved: list[Path] = []
    errors: list[str] = []
    if not dry_run:
        for _name, path in old:
            if _delete(path, errors):
                deleted += 1
        # The run index forgets them too (a file another prune deleted first included).
        gone = [name for name, path in old if not os.path.lexists(path)]
        forget(directory, gone, lambda: _artifact_names(directory))
        for path in stale:
            _delete(path, errors)
        moved = _move_all(directory, move, errors)
        _remove_empty_months(listing, month_of(cutoff))
    return PruneResult(
        matched=[path for _name, path in old],
        deleted=deleted,
        kept=len(files) - len(old),
        errors=errors,
        stale_temp=sorted(stale),
        misnamed=[f"left {name}: {reason}" for name, reason in misnamed],
        moved=[path for _name, path in move] if dry_run else moved,
    )


def _artifact_names(directory: Path) -> set[str] | None:
    """Every artifact name the directory holds now, or None when it cannot be listed."""
    try:
        return {name for _stamp, name in ArtifactDirectory(directory).names()}
    except DirectoryError:
        return None


def _move_all(directory: Path, move: list[tuple[str, Path]], errors: list[str]) -> list[Path]:
    """Move top-level files into their months' directories (the paths moved). A month that
    cannot take them (a link, a file, no permission) is one line for all its files."""
    by_month: dict[str, list[tuple[str, Path]]] = {}
    for name, path in move:
        by_month.setdefault(month_of_name(name), []).append((name, path))
    moved: list[Path] = []
    for month, files in by_month.items():
        try:
            # never through a link: reports would not see the files there
            month_directory(directory / month, durable=True)
        except ArtifactWriteError as exc:
            errors.append(f"cannot move {len(files)} file(s) into {month}/: {exc}")
            continue
        moved.extend(path for name, path in files if _move(directory / month, name, path, errors))
    return moved


def _move(month: Path, name: str, path: Path, errors: list[str]) -> bool:
    """Move a top-level file into its month's directory: a rename (same file, same inode, so the
    run index's row still holds), never over a file of the same name."""
    try:
        os.link(path, month / name)  # fails if the name is taken, unlike rename
        os.unlink(path)
    except FileExistsError:
        errors.append(f"cannot move {name} into {month.name}/: a file of that name is there")
        return False
    except OSError as exc:
        errors.append(f"cannot move {name} into {month.name}/: {exc.strerror or exc}")
        return False
    return True


def _remove_empty_months(listing: ArtifactDirectory, cutoff_month: str) -> None:
    """Remove the month directories before the cutoff's month that pruning left empty (never
    the current one, which a ``check`` may be about to write into). The months are the
    listing's: one made since is the current one, or later."""
    for month in listing.months:
        if month < cutoff_month:
            with contextlib.suppress(OSError):  # not empty (a file of another kind), or gone
                os.rmdir(listing.path / month)


def _delete(path: Path, errors: list[str]) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False  # another prune got there first
    except OSError as exc:
        errors.append(f"cannot delete {path.name}: {exc.strerror or exc}")
        return False
    return True
