"""Atomic file output for artifacts, reports and dashboards (cron may write while others read)."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path


class WriteError(Exception):
    """A file could not be written; the message is one line."""


@functools.cache
def public_mode() -> int:
    """0644 under the usual umask: what ``open()`` would have created (``mkstemp`` makes 0600,
    which a web server running as another user cannot read)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, public_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
