"""The run index: a cache of decoded runs, and ALL of its SQL.

It lives in the same SQLite file as the notification state (``<artifacts dir>/.chatwoot-health.db``,
WAL mode), in its own tables; the notification tables and their ``PRAGMA user_version`` are never
touched:

* ``index_meta`` — ``version`` (:data:`INDEX_VERSION`), ``layout`` (a hash of the record's
  shape: a tool whose record differs clears the rows instead of misreading them), ``zdict`` and
  ``hdict`` (the preset zlib dictionaries of the records and of the heads, chosen from the first
  run added);
* ``index_runs`` — one row per artifact file: its name, and its size, modification time and inode
  (a file rewritten, replaced or restored under the same name differs in one of them), and the
  run as :class:`~chatwoot_health.artifacts.fast.DetailedRunRecord` — msgpack, deflated with the
  dictionary (about 5 % of the file's size; zlib's checksum catches a damaged row) — and its
  :class:`~chatwoot_health.artifacts.fast.RunHead` as a column of its own (msgpack, raw-deflated
  with a head as dictionary, ~60 bytes: time, status, liveness, latencies…, what the sections
  read of every run) and a hash of the keys of its per-inbox buckets (the sorted (inbox, hour)
  pairs; empty without buckets), with a CRC-32 of the three. A report builds most runs from the
  head alone (:class:`~chatwoot_health.artifacts.fast.IndexedRun`) and inflates a record only
  when a section asks for more of that run — or, inside the channel horizon, when no later run has
  exactly the same bucket keys (a later one's buckets would replace every one of them in the
  merge: of the twelve runs of an hour, only the last is inflated).

The files stay the record of truth: a row is used only while its file is unchanged, and any
trouble — a missing, damaged, locked, read-only or newer-format database — costs time, never a
wrong number or a failure. Damage and an unknown format cost one line on stderr; a lock costs
nothing visible (the rows are added by a later run).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import os
import sqlite3
import stat
import sys
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple
from zlib import crc32, decompressobj

import msgspec

from chatwoot_health import sqlite
from chatwoot_health.artifacts.fast import (
    AgentRecord,
    AgentsRecord,
    CheckRecord,
    ConversationRecord,
    DetailedRunRecord,
    InboxHourRecord,
    IndexedRun,
    RunHead,
    RunRecord,
)
from chatwoot_health.sqlite import DB_NAME

INDEX_VERSION = 3
#: How long a run waits for another's write transaction before leaving its rows to a later run.
BUSY_TIMEOUT = 1.0
#: The most rows one report adds: the first report over a long history stays within ~10 % of
#: the time it took without an index; the next ones add the rest (``index --rebuild`` at once).
ADD_PER_RUN = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS index_meta (
    key    TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_runs (
    name      TEXT    PRIMARY KEY,  -- the artifact's file name: sorts as time
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    ino       INTEGER NOT NULL,
    run       BLOB    NOT NULL,     -- zlib(msgpack(DetailedRunRecord), zdict)
    head      BLOB    NOT NULL,     -- deflate(msgpack(RunHead), hdict): what every section reads
    keys      BLOB    NOT NULL,     -- blake2b-128(msgpack(sorted bucket keys)), or empty
    crc       INTEGER NOT NULL      -- crc32(keys, crc32(head, crc32(run)))
) WITHOUT ROWID;
"""
_WBITS = 12  # a 4 KB window: a run's record (~2 KB) and the dictionary fit
_ENCODER = msgspec.msgpack.Encoder()
_DETAILED = msgspec.msgpack.Decoder(DetailedRunRecord)
_CORE = msgspec.msgpack.Decoder(RunRecord)
_HEAD = msgspec.msgpack.Decoder(RunHead)


@functools.cache
def _layout() -> str:
    """The record's shape as a short hash: every struct's fields and their annotations (as
    written: nothing is resolved, so it costs microseconds), and the tables' columns."""
    shape = repr(
        [
            (kind.__name__, kind.__struct_fields__, inspect.get_annotations(kind))
            for kind in (
                DetailedRunRecord,
                RunRecord,
                RunHead,
                CheckRecord,
                ConversationRecord,
                AgentsRecord,
                AgentRecord,
                InboxHourRecord,
            )
        ]
    )
    return hashlib.sha256((shape + _SCHEMA).encode()).hexdigest()[:16]


class Identity(NamedTuple):
    """What tells a file's versions apart without reading it."""

    size: int
    mtime_ns: int
    ino: int

    @classmethod
    def of(cls, info: os.stat_result) -> Identity:
        return cls(info.st_size, info.st_mtime_ns, info.st_ino)


def identity(path: str) -> Identity | None:
    """A regular file's identity (never through a link), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return Identity.of(info) if stat.S_ISREG(info.st_mode) else None


def unchanged(path: str, known: tuple[int, int, int], dir_fd: int | None = None) -> bool:
    """Whether ``path`` is still the regular file of identity ``known`` (one ``lstat``, no
    object built: a 30-day report asks 8,640 times). ``dir_fd``: ``path`` is a name in that
    open directory (the kernel then walks no path: ~15 % less per call)."""
    try:
        info = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns, info.st_ino) == known and stat.S_ISREG(info.st_mode)


class Row(NamedTuple):
    #: ``(size, mtime_ns, ino)``: equal to the file's :class:`Identity` (a plain tuple: 8,640 of
    #: them are read per report, and a named tuple more each costs ~2 ms)
    identity: tuple[int, int, int]
    blob: bytes
    head: bytes
    keys: bytes
    crc: int


class IndexUnavailable(Exception):
    """The index cannot be used this run; ``str(exc)`` is one line."""


_SAID: set[str] = set()


def notice(message: str) -> None:
    """One line on stderr, once per process (a run opens the index more than once): the index
    is a cache, its trouble is never an error."""
    if message in _SAID:
        return
    _SAID.add(message)
    print(f"chatwoot-health: run index: {message}", file=sys.stderr)


def cache_path(directory: Path) -> Path | None:
    """Where the index of a directory this user cannot write lives: the user's cache directory
    (``$XDG_CACHE_HOME`` or ``~/.cache``), one file per artifacts directory."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        try:
            base = os.fspath(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home directory at all
            return None
    key = hashlib.sha256(os.fsencode(os.path.abspath(directory))).hexdigest()[:16]
    return Path(base) / "chatwoot-health" / f"index-{key}.db"


def index_path(directory: Path) -> Path | None:
    """The database beside the artifacts when this user may write it, else the cache one."""
    beside = directory / DB_NAME
    if os.access(directory, os.W_OK | os.X_OK) and (
        not beside.exists() or os.access(beside, os.R_OK | os.W_OK)
    ):
        return beside
    return cache_path(directory)


def _is_corrupt(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "malformed" in str(exc)


class RunIndex:
    """An open index. Every method turns a database problem into :class:`IndexUnavailable`
    (reads) or a quiet no-op (writes while locked); callers fall back to reading the files."""

    def __init__(
        self, path: Path, db: sqlite3.Connection, dicts: tuple[bytes, bytes] | None
    ) -> None:
        self.path = path
        self._db = db
        self._zdict: bytes | None = None
        self._hdict: bytes | None = None
        if dicts is not None:
            self._zdict, self._hdict = dicts

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls, directory: Path, busy_timeout: float | None = None, create: bool = True
    ) -> RunIndex | None:
        """The index of ``directory``, or None (with one line on stderr, unless it is just
        locked or there is nowhere to keep it). A damaged database is moved aside and started
        afresh. ``create=False``: None when there is no database yet."""
        path = index_path(directory)
        if path is None or (not create and not path.exists()):
            return None
        try:
            return cls._open(path, BUSY_TIMEOUT if busy_timeout is None else busy_timeout)
        except IndexUnavailable as exc:
            if str(exc):
                notice(str(exc))
            return None

    @classmethod
    def _open(cls, path: Path, busy_timeout: float, retry: bool = True) -> RunIndex:
        if path.name != DB_NAME:  # the cache directory
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError:
                raise IndexUnavailable("") from None
        db: sqlite3.Connection | None = None
        try:
            db = sqlite.connect(path, busy_timeout)
            return cls(path, db, _prepare(db, path))
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            if sqlite.is_busy(exc):
                raise IndexUnavailable("") from None
            if _is_corrupt(exc) and retry:
                moved = _move_aside(path)
                notice(f"{path} is not a readable database ({exc}): moved aside as {moved}")
                return cls._open(path, busy_timeout, retry=False)
            raise IndexUnavailable(f"{path} cannot be used ({exc}); reading the files") from None
        except IndexUnavailable:
            if db is not None:
                db.close()
            raise
        except OSError as exc:  # moving a damaged file aside failed
            raise IndexUnavailable(f"cannot move {path} aside ({exc.strerror or exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def rows(self, low: str = "", high: str = "~") -> dict[str, Row]:
        """The rows whose names lie in ``[low, high)``."""
        try:
            cursor = self._db.execute(
                "SELECT name, size, mtime_ns, ino, CAST(run AS BLOB), CAST(head AS BLOB), "
                "CAST(keys AS BLOB), crc FROM index_runs WHERE name >= ? AND name < ?",
                (low, high),
            )
            return {
                name: Row((size, mtime, ino), blob, head, keys, crc)
                for name, size, mtime, ino, blob, head, keys, crc in cursor
            }
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from None

    def gone(self, listed: Callable[[], Collection[str] | None]) -> list[str]:
        """The rows whose file the directory no longer holds: ``listed`` lists its artifact
        names (None when it cannot). The rows are read before the directory is listed:
        ``check`` writes its file before it adds its row, so a row read is never of a file
        still to come."""
        try:
            indexed = [name for (name,) in self._db.execute("SELECT name FROM index_runs")]
        except sqlite3.Error:
            return []
        present = listed()
        if present is None:
            return []
        return [name for name in indexed if name not in present]

    def _unavailable(self, exc: sqlite3.Error) -> IndexUnavailable:
        """Busy: quietly nothing. Damaged: moved aside (the next run starts afresh), one line."""
        if sqlite.is_busy(exc):
            return IndexUnavailable("")
        if _is_corrupt(exc):
            self.close()
            try:
                moved = _move_aside(self.path)
            except OSError as error:
                return IndexUnavailable(
                    f"cannot move {self.path} aside ({error.strerror or error})"
                )
            return IndexUnavailable(
                f"{self.path} is not a readable database ({exc}): moved aside as {moved}"
            )
        return IndexUnavailable(f"{self.path} cannot be used ({exc}); reading the files")

    def decode(self, blob: bytes, detailed: bool) -> RunRecord | None:
        """A row's run (with its per-inbox buckets if ``detailed``), or None when the row is
        damaged (its file is read instead)."""
        if self._zdict is None:
            return None
        try:
            inflater = zlib.decompressobj(_WBITS, zdict=self._zdict)
            raw = inflater.decompress(blob)
            if not inflater.eof or inflater.unused_data:
                return None
            return (_DETAILED if detailed else _CORE).decode(raw)
        except (zlib.error, msgspec.DecodeError, ValueError):
            return None

    def indexed_run(self, row: Row) -> IndexedRun | None:
        """A row's run from its head (its record inflated only if asked for), or None when the
        row is damaged (its file is read instead)."""
        _identity, blob, head, keys, crc = row  # 8,640 times a report: no attribute lookups
        hdict = self._hdict
        if hdict is None or crc32(keys, crc32(head, crc32(blob))) != crc:  # _crc, inline
            return None
        try:
            decoded = _HEAD.decode(decompressobj(-_WBITS, zdict=hdict).decompress(head))
        except (zlib.error, msgspec.DecodeError, ValueError):
            return None
        return IndexedRun(decoded, blob, self._inflate)

    def _inflate(self, blob: bytes) -> RunRecord:
        record = self.decode(blob, detailed=False)
        if record is None:  # its checksum matched: only a bug could make it unreadable
            raise ValueError("a run index row cannot be decoded")
        return record

    # ------------------------------------------------------------------ writing

    def encode(self, record: DetailedRunRecord) -> tuple[bytes, bytes, bytes, int]:
        """A run's row: its deflated record, its head, its bucket keys and their checksum."""
        assert self._zdict is not None and self._hdict is not None
        deflater = zlib.compressobj(
            6, zlib.DEFLATED, _WBITS, 8, zlib.Z_DEFAULT_STRATEGY, self._zdict
        )
        blob = deflater.compress(_ENCODER.encode(record)) + deflater.flush()
        # raw deflate (no header, no checksum: the row's CRC covers it) with a head as dictionary:
        # ~200 bytes become ~60, and inflating 8,640 of them takes ~6 ms
        deflater = zlib.compressobj(
            6, zlib.DEFLATED, -_WBITS, 8, zlib.Z_DEFAULT_STRATEGY, self._hdict
        )
        head = deflater.compress(_ENCODER.encode(RunHead.of(record))) + deflater.flush()
        keys = bucket_keys(record)
        return blob, head, keys, _crc(blob, head, keys)

    def update(
        self,
        added: Sequence[tuple[str, Identity, DetailedRunRecord]] = (),
        removed: Iterable[str] = (),
    ) -> bool:
        """Add (or replace) rows and remove others in one short transaction. Returns False when
        the database is busy or cannot be written: the rows are left to a later run."""
        removed = list(removed)
        if not added and not removed:
            return True
        try:
            with self._write() as db:
                if added and (self._zdict is None or self._hdict is None):
                    self._zdict, self._hdict = _choose_dicts(db, added[-1][2])
                db.executemany("DELETE FROM index_runs WHERE name = ?", ((n,) for n in removed))
                db.executemany(
                    "INSERT OR REPLACE INTO index_runs "
                    "(name, size, mtime_ns, ino, run, head, keys, crc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    ((name, *ident, *self.encode(record)) for name, ident, record in added),
                )
        except sqlite3.Error as exc:
            if message := str(self._unavailable(exc)):
                notice(message)
            return False
        return True

    def clear(self) -> None:
        """Drop every row and the dictionary (``index --rebuild``)."""
        try:
            with self._write() as db:
                db.execute("DELETE FROM index_runs")
                db.execute("DELETE FROM index_meta WHERE key IN ('zdict', 'hdict')")
        except sqlite3.Error as exc:
            problem = self._unavailable(exc)
            raise (
                problem if str(problem) else IndexUnavailable(f"{self.path} is locked")
            ) from None
        self._zdict = self._hdict = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise


def bucket_keys(record: DetailedRunRecord) -> bytes:
    """The run's (inbox, hour) keys, sorted, encoded and hashed (BLAKE2b, 128 bits: 16 bytes
    instead of ~65): two runs with the same bytes hold buckets for the same keys. Empty when
    the run has no buckets."""
    buckets = record.inbox_activity
    if not buckets:
        return b""
    keys = _ENCODER.encode(sorted((bucket.inbox_id, bucket.hour) for bucket in buckets))
    return hashlib.blake2b(keys, digest_size=16).digest()


def _crc(blob: bytes, head: bytes, keys: bytes) -> int:
    return crc32(keys, crc32(head, crc32(blob)))  # RunIndex.indexed_run has it inline


def forget(
    directory: Path, names: Sequence[str], listed: Callable[[], Collection[str] | None]
) -> None:
    """Remove the rows of deleted files (``prune``): those named, and every other row whose file
    is no longer in the directory (``listed`` lists its artifact names, after the rows are read)
    — deleted by hand, outside any report's window (a report removes the rows of its window's
    files only). Quietly left to a later run when locked."""
    runs = RunIndex.open(directory, create=False)
    if runs is not None:
        with runs:
            runs.update(removed=sorted({*names, *runs.gone(listed)}))


def _prepare(db: sqlite3.Connection, path: Path) -> tuple[bytes, bytes] | None:
    """Create or check the index tables; returns the dictionaries (None until a run is added).

    A database of another layout or an older version has its index tables dropped and made
    again (one line); one of a newer version is left alone and not used."""
    meta = _meta(db)
    layout = _layout()
    if meta.get("version") == INDEX_VERSION and meta.get("layout") == layout:
        return _dicts(meta)
    version = meta.get("version")
    if isinstance(version, int) and version > INDEX_VERSION:
        raise IndexUnavailable(
            f"{path} was written by a newer chatwoot-health (index version {version}, this one "
            f"knows {INDEX_VERSION}); reading the files"
        )
    db.execute("BEGIN IMMEDIATE")
    try:
        meta = _meta(db)  # another run may have done it meanwhile
        if meta.get("version") != INDEX_VERSION or meta.get("layout") != layout:
            if meta:
                notice(f"{path}: an index of another format, rebuilt from the files")
            db.execute("DROP TABLE IF EXISTS index_runs")
            db.execute("DROP TABLE IF EXISTS index_meta")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.executemany(
                "INSERT INTO index_meta (key, value) VALUES (?, ?)",
                [("version", INDEX_VERSION), ("layout", layout)],
            )
            meta = {}
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return _dicts(meta)


def _dicts(meta: dict[str, object]) -> tuple[bytes, bytes] | None:
    """The records' and the heads' dictionaries (None until a run is added)."""
    zdict, hdict = meta.get("zdict"), meta.get("hdict")
    if isinstance(zdict, bytes) and isinstance(hdict, bytes):
        return zdict, hdict
    return None


def _meta(db: sqlite3.Connection) -> dict[str, object]:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'index_meta'"
    ).fetchone()
    if exists is None:
        return {}
    return {str(key): value for key, value in db.execute("SELECT key, value FROM index_meta")}


def _choose_dicts(db: sqlite3.Connection, sample: DetailedRunRecord) -> tuple[bytes, bytes]:
    """The dictionaries: a run's own encoding for the records (field names, check names, the
    instance, agent and inbox names recur in every run), its head for the heads. Inside the
    write transaction, so every writer agrees."""
    meta = _dicts(_meta(db))
    if meta is not None:
        return meta
    zdict = _ENCODER.encode(sample)[-(1 << _WBITS) + 262 :]
    hdict = _ENCODER.encode(RunHead.of(sample))
    db.execute("DELETE FROM index_meta WHERE key IN ('zdict', 'hdict')")
    db.executemany(
        "INSERT INTO index_meta (key, value) VALUES (?, ?)", [("zdict", zdict), ("hdict", hdict)]
    )
    return zdict, hdict


def _move_aside(path: Path) -> str:
    """Move a damaged database (and its WAL files) aside as ``<name>.corrupt-<time>``, the
    name the notification state uses too."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.replace(path.with_name(f"{path.name}{suffix}.corrupt-{stamp}"))
    return f"{path.name}.corrupt-{stamp}"
