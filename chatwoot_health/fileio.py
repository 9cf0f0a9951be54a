"""Every file the tool reads from a directory it does not control, and every file it writes.

Reading: only regular files, never through a symbolic link, never blocking on a FIFO, and never
more than a cap (:func:`read_regular`). Writing (:func:`write_text_atomic`): a new path or a
regular file is replaced atomically (temporary file in the same directory, fsync, rename), a
symbolic link to a regular file has its *target* replaced (the link stays a link), and a FIFO, a
character device or ``/dev/stdout`` is written in place, never replaced. Temporary files are
named ``.tmp-*.partial``; a stop signal that arrives while one exists is held until it is renamed
or removed (:func:`signals_deferred`), so an interrupted run leaves none behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import re
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import NoReturn

from chatwoot_health.state import ExitCode

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".partial"
#: How long writing to a FIFO waits for a reader to open it (then: a one-line error, no hang).
FIFO_READER_WAIT_SECONDS = 5.0
#: The signals that end a run cleanly (see :func:`install_signal_handlers`).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class WriteError(Exception):
    """A file could not be written; the message is one line."""


class FileExists(WriteError):
    """An exclusive write found its name taken (the caller picks another name)."""


class NotReadable(OSError):
    """A file was refused before reading (not a regular file, a link, over the cap)."""


@functools.cache
def public_mode() -> int:
    """0644 under the usual umask: what ``open()`` would have created (``mkstemp`` makes 0600,
    which a web server running as another user cannot read)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our temporary files (``prune`` removes stale ones)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


# --------------------------------------------------------------------------- signals

_held = {"depth": 0, "signum": 0}


def _stop(signum: int) -> NoReturn:
    """End the run at once: one line, exit UNKNOWN. No temporary file exists at this point (see
    :func:`signals_deferred`), so there is nothing to unwind; and an exception raised from a
    signal handler could land inside a library callback (pydantic wraps it into its own error)."""
    line = f"chatwoot-health: interrupted by {signal.Signals(signum).name}\n"
    with contextlib.suppress(OSError):
        os.write(2, line.encode())
    os._exit(int(ExitCode.UNKNOWN))


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    if _held["depth"]:
        _held["signum"] = signum  # acted on when the temporary file is gone
        return
    _stop(signum)


def install_signal_handlers() -> None:
    """End the run cleanly on SIGTERM, SIGINT and SIGHUP (the CLI's entry point calls this): exit
    3 with one line, and never while a temporary file of ours exists. A signal the parent set to
    be ignored (``nohup``, a background job) stays ignored."""
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_stop_signal)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold a stop signal while a temporary file exists; act on it once the file is gone.

    Python runs signal handlers in the main thread between bytecodes, so without this a
    signal between ``mkstemp`` and the ``try`` that removes the file would leave it behind.
    Only short local writes run inside (never a write that can block on a reader).
    """
    _held["depth"] += 1
    try:
        yield
    finally:
        _held["depth"] -= 1
        if not _held["depth"] and _held["signum"]:
            _stop(_held["signum"])


# --------------------------------------------------------------------------- reading

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; else :class:`NotReadable`
    (or the OSError of opening it), saying why in a few words.

    Opened without following a symbolic link and without blocking (a FIFO), then checked with
    ``fstat`` on the open descriptor (no race with a rename): a link to ``/dev/zero``, a FIFO, a
    sparse 2 GB file or a directory costs one ``open`` and is never read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotReadable(errno.ELOOP, "a symbolic link (links are not followed)") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotReadable(errno.EINVAL, f"{_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise NotReadable(
                errno.EFBIG, f"too large: {info.st_size:,} bytes, the cap is {limit:,}"
            )
        # st_size + 1: one read normally returns the whole file; more means it grew meanwhile.
        want = info.st_size + 1
        data = os.read(fd, want)
        if len(data) == want:
            chunks = [data]
            total = len(data)
            while chunk := os.read(fd, min(65536, limit + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise NotReadable(
                        errno.EFBIG, f"too large: it grew past the cap of {limit:,} bytes"
                    )
            data = b"".join(chunks)
        return data
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- writing

#: Names that mean "a descriptor this process already has" (the shell's meaning, not a file).
_OPEN_DESCRIPTOR = re.compile(r"^/(?:dev/(?:(stdout)|(stderr)|fd/(\d+))|proc/self/fd/(\d+))$")


def write_text_atomic(
    path: Path, text: str, *, exclusive: bool = False, durable: bool = True
) -> None:
    """Write ``text`` to ``path`` the way its kind of file wants (see the module docstring).

    A directory, a block device or a socket is refused with a one-line :class:`WriteError`.

    ``exclusive``: ``path`` is a new file in an existing directory, linked into place only if the
    name is free (:class:`FileExists` otherwise, so that two writers never overwrite each other);
    errors then name the directory. ``durable=False`` skips the fsyncs (still atomic for
    readers).
    """
    data = text.encode("utf-8")
    if exclusive:
        directory = path.parent
        _write_atomic(directory, data, functools.partial(_link, target=path), durable=durable)
        return
    descriptor = _open_descriptor(path)
    if descriptor is not None:
        _write_descriptor(path, descriptor, data)
        return
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    target = path
    if info is not None and stat.S_ISLNK(info.st_mode):
        # Update what the link points to, never the link itself.
        target = Path(os.path.realpath(path))
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None  # a dangling link: create its target
        except OSError as exc:
            raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    if info is None or stat.S_ISREG(info.st_mode):
        directory = target.parent if str(target.parent) else Path(".")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
        what = f"cannot write {path}"
        place = functools.partial(_replace, target=target)
        _write_atomic(directory, data, place, durable=durable, what=what)
    elif stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
        _write_in_place(path, data)
    else:
        raise WriteError(f"cannot write {path}: it is {_kind(info.st_mode)}")


def _replace(tmp: Path, target: Path) -> Path:
    os.replace(tmp, target)
    return target


def _link(tmp: Path, target: Path) -> Path:
    """Put ``tmp`` in place as ``target`` unless the name is taken: ``link()`` fails if the
    target exists, unlike ``rename()``."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExists(f"{target} exists") from None
    except OSError:
        os.replace(tmp, target)  # file systems without hard links
    return target


def _write_atomic(
    directory: Path,
    data: bytes,
    place: Callable[[Path], Path],
    *,
    durable: bool = True,
    what: str = "",
) -> Path:
    """Write ``data`` to a temporary file in ``directory`` (fsync'd if ``durable``), then let
    ``place`` move it into place (rename, or an exclusive link) and return the final path.

    The temporary file never outlives the call: it is removed in a ``finally``, and a stop signal
    is held until then. Failures are one-line :class:`WriteError`\\ s: ``what``, a colon, the
    reason (``what`` defaults to "cannot write to DIRECTORY").
    """
    what = what or f"cannot write to {directory}"
    with signals_deferred():
        try:
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
        except OSError as exc:
            raise WriteError(f"{what}: {exc.strerror or exc}") from None
        tmp = Path(name)
        try:
            os.fchmod(fd, public_mode())
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            final = place(tmp)
            if durable:
                fsync_directory(directory)
            return final
        except OSError as exc:
            raise WriteError(f"{what}: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (best effort: some platforms have no directory descriptors)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _open_descriptor(path: Path) -> int | None:
    match = _OPEN_DESCRIPTOR.match(os.path.normpath(os.fspath(path)))
    if match is None:
        return None
    stdout, stderr, dev_fd, proc_fd = match.groups()
    if stdout:
        return 1
    if stderr:
        return 2
    return int(dev_fd or proc_fd)


def _write_descriptor(path: Path, descriptor: int, data: bytes) -> None:
    """``-o /dev/stdout``: write to the descriptor itself, as the shell does (reopening it would
    truncate an appended log, and renaming onto it would replace the device)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        _write_all(descriptor, data)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_in_place(path: Path, data: bytes) -> None:
    """A FIFO or a character device: open it for writing (never create, truncate or rename).

    The open does not block: a FIFO nobody reads is retried for a few seconds, then refused.
    """
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    deadline = time.monotonic() + FIFO_READER_WAIT_SECONDS
    while True:
        try:
            fd = os.open(path, flags)
            break
        except OSError as exc:
            if exc.errno == errno.ENXIO and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            reason = "no process reads it" if exc.errno == errno.ENXIO else exc.strerror
            raise WriteError(f"cannot write {path}: {reason or exc}") from None
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        _write_all(fd, data)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
