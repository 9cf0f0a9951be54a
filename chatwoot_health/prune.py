"""Retention: delete artifact files (by name pattern) older than a cutoff, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from chatwoot_health.artifacts import list_artifact_files


@dataclass(frozen=True)
class PruneResult:
    matched: list[Path]
    deleted: int
    kept: int
    errors: list[str]


def prune(directory: Path, older_than: timedelta, now: datetime, dry_run: bool) -> PruneResult:
    cutoff = now - older_than
    # Only regular files: a directory that happens to carry an artifact's name is not ours.
    files = [(stamp, path) for stamp, path in list_artifact_files(directory) if path.is_file()]
    old = [path for stamp, path in files if stamp < cutoff]
    deleted = 0
    errors: list[str] = []
    if not dry_run:
        for path in old:
            try:
                path.unlink()
                deleted += 1
            except FileNotFoundError:
                continue  # another prune got there first
            except OSError as exc:
                errors.append(f"cannot delete {path.name}: {exc.strerror or exc}")
    return PruneResult(matched=old, deleted=deleted, kept=len(files) - len(old), errors=errors)
