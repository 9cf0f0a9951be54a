"""The artifacts directory: choosing files by name, reading them tolerantly, writing new ones.

Writes are atomic (temporary file in the same directory, fsync, exclusive link into place; see
:func:`chatwoot_health.fileio.write_text_atomic`) and names are unique, so readers never see half
a file and overlapping runs never clobber each other. Reads are tolerant: a file that is not a
valid artifact is skipped and counted, never fatal.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from chatwoot_health.artifacts import MONTH_DIR
from chatwoot_health.artifacts.fast import (
    DETAILED_DECODER,
    RECORD_DECODER,
    ArtifactCore,
    DetailedRunRecord,
    RunRecord,
)
from chatwoot_health.artifacts.index import (
    ADD_PER_RUN,
    Identity,
    IndexUnavailable,
    Row,
    RunIndex,
    identity,
    notice,
    unchanged,
)
from chatwoot_health.fileio import (
    FileExists,
    NotReadable,
    WriteError,
    fsync_directory,
    read_regular,
    write_text_atomic,
)
from chatwoot_health.timeutil import EARLIEST, LATEST, compact_stamp, iso, parse_stamp

#: A real artifact is ~3 KB; a bigger file is skipped (and counted) without being read.
MAX_ARTIFACT_BYTES = 4 * 1024 * 1024

if TYPE_CHECKING:  # the pydantic model is built only when a file needs it (~20 ms of start-up)
    from chatwoot_health.models.artifact import Artifact

#: ``20261127T004500Z-3f9a1c.json``: the name alone places a file in time, so a report opens
#: only the files in its window.
FILE_NAME = re.compile(r"^(\d{8}T\d{6}Z)-([0-9a-z]{4,16})\.json$")


def month_of(moment: datetime) -> str:
    """The month directory of a run checked at ``moment`` (UTC)."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def month_of_name(name: str) -> str:
    """The month directory an artifact file name belongs in (``20261127T…`` → ``2026-11``)."""
    return f"{name[:4]}-{name[4:6]}"


def locate(directory: Path, name: str) -> Path:
    """Where the artifact file ``name`` is: in its month's directory, or at the top level (where
    versions before the month directories wrote, and where a file not yet moved by ``prune``
    stays)."""
    nested = directory / month_of_name(name) / name
    if not os.path.lexists(nested) and os.path.lexists(top := directory / name):
        return top
    return nested


# --------------------------------------------------------------------------- writing


class ArtifactWriteError(WriteError):
    """The artifact could not be written (exit UNKNOWN: the run's result would be lost)."""


def artifact_name(checked_at: datetime) -> str:
    return f"{compact_stamp(checked_at)}-{os.urandom(4).hex()}.json"


def write_artifact(directory: Path, artifact: Artifact, durable: bool = True) -> Path:
    """Write atomically under a new unique name (an exclusive link: two runs in the same second
    can never overwrite each other), in the directory of the run's month (made if new, and never
    through a link: readers do not follow one).

    ``durable=False`` skips the fsyncs (still atomic for readers); only the demo uses it.
    """
    text = artifact.to_json()
    month = directory / month_of(artifact.checked_at)
    month_directory(month, durable)
    for _ in range(8):
        target = month / artifact_name(artifact.checked_at)
        try:
            write_text_atomic(target, text, exclusive=True, durable=durable)
        except FileExists:
            continue
        except WriteError as exc:
            raise ArtifactWriteError(str(exc)) from None
        return target
    raise ArtifactWriteError(  # pragma: no cover - 8 collisions of 32 random bits
        f"cannot find a free artifact name in {directory}"
    )


def month_directory(month: Path, durable: bool) -> None:
    """Make the month's directory (and the artifacts directory) if new; a new one is made
    durable in its parent, as the file will be in it. One that exists must be a directory, not
    a link to one (:class:`ArtifactWriteError` otherwise): readers do not follow a link, so a
    file put through it would never be read."""
    try:
        month.mkdir()
    except FileExistsError:
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(month).st_mode):
                return
        raise ArtifactWriteError(
            f"cannot write to {month}: it exists and is not a directory"
        ) from None
    except (FileNotFoundError, NotADirectoryError):  # no artifacts directory yet (or a file)
        try:
            month.parent.mkdir(parents=True, exist_ok=True)
            month.mkdir(exist_ok=True)
        except OSError as exc:
            where = month if month.parent.is_dir() else month.parent
            raise ArtifactWriteError(f"cannot write to {where}: {exc.strerror or exc}") from None
        if durable:
            fsync_directory(month.parent.parent)  # the artifacts directory, made just now
            fsync_directory(month.parent)
        return
    except OSError as exc:
        raise ArtifactWriteError(f"cannot write to {month}: {exc.strerror or exc}") from None
    if durable:
        fsync_directory(month.parent)


def index_written(directory: Path, path: Path) -> None:
    """Add the run just written (by ``check``) to the run index of ``directory``: one row, read
    back from the file exactly as a report would read it. Any trouble only leaves the row to a
    later report. The first report makes the index: a ``check`` alone never leaves a database
    behind."""
    runs = RunIndex.open(directory, create=False)
    if runs is None:
        return
    with runs:
        if (found := indexable(os.fspath(path))) is not None:
            runs.update([(path.name, *found)])


def indexable(path: str) -> tuple[Identity, DetailedRunRecord] | None:
    """A file's identity and its run with its buckets, as the run index keeps them; None when
    it is not a regular file, cannot be read or is not what msgspec reads (a report reads such
    a file itself)."""
    ident = identity(path)  # before reading: a file replaced meanwhile is noticed next time
    if ident is None or isinstance(raw := read_artifact_bytes(path), OSError):
        return None
    try:
        return ident, DETAILED_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None


# --------------------------------------------------------------------------- reading


def stamp_of(name: str) -> datetime | None:
    """The UTC instant encoded in an artifact file name, or None if the name is not ours or
    names an impossible instant (month 00, hour 99, year 0; see :func:`parse_stamp`)."""
    if not FILE_NAME.match(name):
        return None
    try:
        return parse_stamp(name[:16])
    except ValueError:
        return None


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class ArtifactSet:
    """The artifacts of a window, oldest first, and what had to be skipped on the way."""

    artifacts: list[ArtifactCore] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.artifacts)


class DirectoryError(Exception):
    """The artifacts directory is missing, not a directory or unreadable (exit UNKNOWN, one
    line)."""


class ArtifactDirectory:
    """One listing of an artifacts directory, for everything a run needs to know about it.

    The files live in a directory per month (``2026-11/``); names sort as time, so choosing a
    window is listing its months and comparing strings: a directory holding years of artifacts
    costs a 30-day report two month listings, not a year of names. Files at the top level (the
    layout before the month directories, until ``prune`` moves them) are read as well.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            raise DirectoryError(
                f"the artifacts directory {path} does not exist: run `chatwoot-health check` "
                "first, or give the right --artifacts-dir"
            ) from None
        except NotADirectoryError:
            raise DirectoryError(f"the artifacts directory {path} is not a directory") from None
        except OSError as exc:
            raise DirectoryError(
                f"cannot read the artifacts directory {path}: {exc.strerror or exc}"
            ) from None
        self._top = names
        self._months = sorted(name for name in names if MONTH_DIR.match(name))
        self._listed: dict[str, list[str] | str] = {}  # month → its names, or why not listed
        #: The artifact names read from the top level (not from their month's directory).
        self._at_top: set[str] = set()

    @property
    def months(self) -> list[str]:
        """The names of the month directories listed at the top level, oldest first."""
        return list(self._months)

    def relpath(self, name: str) -> str:
        """Where the artifact file ``name`` of a listing is, relative to :attr:`path`."""
        if name in self._at_top:
            return name
        return f"{month_of_name(name)}{os.sep}{name}"

    def file(self, name: str) -> Path:
        return self.path / self.relpath(name)

    def names(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[tuple[datetime, str]]:
        """Artifact names that lie in ``[start, end]``, oldest first; none is opened (bare
        names, no Path objects: 8,640 of them cost 0.1 s)."""
        return self.scan(start, end)[0]

    def scan(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> tuple[list[tuple[datetime, str]], list[tuple[str, str]]]:
        """:meth:`names`, and the (path relative to the directory, reason) of the entries named
        like artifacts that are not read: a name that is an impossible instant
        (``20261127T009900Z-…``), a file in another month's directory than its name's, a
        top-level copy of a file its month's directory holds, a month that is not a directory
        or cannot be listed. They are skipped and counted.
        """
        # Whole names compared with the stamps: a name starting with ``low`` sorts after it, and
        # "~" sorts after every character of a name, so no slice is made of the names.
        low = compact_stamp(start) if start is not None else ""
        high = (compact_stamp(end) if end is not None else "") + "~"
        first = month_of(start) if start is not None else ""
        last = month_of(end) if end is not None else "~"
        misnamed: list[tuple[str, str]] = []
        candidates: list[str] = []
        for month in self._months:
            if not first <= month <= last:
                continue
            listed = self._list(month)
            if isinstance(listed, str):
                misnamed.append((month, listed))
                continue
            prefix = month[:4] + month[5:]
            for name in [name for name in listed if low <= name < high]:
                if name.startswith(prefix):
                    candidates.append(name)
                elif FILE_NAME.match(name):
                    misnamed.append(
                        (f"{month}{os.sep}{name}", f"not in its month's directory ({month})")
                    )
        top = [name for name in self._top if low <= name < high]  # the layout before months
        if top:
            nested = set(candidates)
            for name in top:
                if name in nested:
                    where = f"{month_of_name(name)}{os.sep}{name}"
                    misnamed.append((name, f"a copy of {where}, which is read"))
                else:
                    candidates.append(name)
                    self._at_top.add(name)
        selected: list[tuple[datetime, str]] = []
        for name in sorted(candidates):
            if len(name) > 21 and name.endswith(".json") and FILE_NAME.match(name):
                try:
                    selected.append((_stamp(name[:16]), name))
                except ValueError as exc:
                    misnamed.append((self.relpath(name), f"not a valid artifact name: {exc}"))
        return selected, misnamed

    def _list(self, month: str) -> list[str] | str:
        """A month directory's names (listed once), or why it cannot be: it is opened without
        following a link, as the files are."""
        listed = self._listed.get(month)
        if listed is None:
            try:
                fd = os.open(
                    self.path / month, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                )
                try:
                    listed = os.listdir(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    listed = "not a directory (links are not followed)"
                else:
                    listed = f"cannot list it: {exc.strerror or exc}"
            self._listed[month] = listed
        return listed

    def entries(self) -> list[str]:
        """Every entry of the directory and of its month directories, as paths relative to it,
        unfiltered and unsorted (``prune``'s sweep)."""
        found = list(self._top)
        for month in self._months:
            listed = self._list(month)
            if not isinstance(listed, str):
                found.extend(f"{month}{os.sep}{name}" for name in listed)
        return found

    def at_top(self) -> list[str]:
        """The artifact names listed at the top level and read from there (after a
        :meth:`scan` covering them): the files ``prune`` moves into their month's directory."""
        return sorted(self._at_top)

    def first_time(self) -> datetime | None:
        """When monitoring began, as far as the directory remembers (the oldest artifact name):
        the oldest of the top level's and of the first month directory that holds one."""
        found = [stamp for stamp in [_oldest(self._top, self._months)] if stamp is not None]
        for month in self._months:
            listed = self._list(month)
            if not isinstance(listed, str) and (stamp := _oldest(listed)) is not None:
                found.append(stamp)
                break
        return min(found, default=None)


def _oldest(names: list[str], months: Sequence[str] = ()) -> datetime | None:
    """The instant of the oldest artifact name among ``names`` (``months``: the month
    directories among them, which sort among the artifact names: "2026-11" < "20261127T…")."""
    # One C-speed pass, no sort; dot-files (the state database beside the artifacts) sort
    # before every artifact name, which starts with a digit, and are left out.
    oldest = min(filter("0".__lt__, names), default=None)
    if oldest is not None and months and MONTH_DIR.match(oldest):
        skip = set(months)
        oldest = min((name for name in names if name > "0" and name not in skip), default=None)
    if oldest is not None and (stamp := stamp_of(oldest)) is not None:
        return stamp
    # Some other name sorts first (a demo's marker file, a month directory): the artifacts only.
    valid = [name for name in names if FILE_NAME.match(name)]
    first = min(valid, default=None)
    if first is None or (stamp := stamp_of(first)) is not None:
        return stamp if first is not None else None
    # The oldest-looking name is an impossible instant (hostile or broken): sort, once.
    return next((s for name in sorted(valid) if (s := stamp_of(name)) is not None), None)


def _stamp(stamp: str) -> datetime:
    """:func:`parse_stamp` for a name :data:`FILE_NAME` matched, at C speed: ``fromisoformat``
    reads the basic form (``20261127T004500Z``) as exactly the same instant, UTC, and rejects
    the same impossible dates; anything it does not take, or takes outside 1970–9000 or with
    other than ASCII digits, goes to ``parse_stamp`` for its message (a year is 105,000 names)."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return parse_stamp(stamp)
    if stamp.isascii() and EARLIEST <= moment <= LATEST:
        return moment
    return parse_stamp(stamp)


def read_artifact_bytes(path: str) -> bytes | OSError:
    """A regular file, not through a link, at most :data:`MAX_ARTIFACT_BYTES` (or why not)."""
    try:
        return read_regular(path, MAX_ARTIFACT_BYTES)
    except OSError as exc:
        return exc


def load_artifact(path: Path | str) -> Artifact:
    """Read and parse one file; raises ValueError with a one-line, human reason."""
    return parse_artifact(read_artifact_bytes(os.fspath(path)))


def parse_record(raw: bytes | OSError, detailed: bool = False) -> ArtifactCore:
    """The fast read of a run (with its per-inbox buckets if ``detailed``); what it rejects goes
    through :func:`parse_artifact`, for the precise message."""
    if not isinstance(raw, OSError):
        try:
            return (DETAILED_DECODER if detailed else RECORD_DECODER).decode(raw)
        except (msgspec.DecodeError, RecursionError):
            pass
    return parse_artifact(raw)


def parse_artifact(raw: bytes | OSError, model: type[Artifact] | None = None) -> Artifact:
    """Parse one file's bytes (or the error reading it) with ``model`` (default
    :class:`Artifact`); raises ValueError with a reason."""
    from pydantic import ValidationError

    from chatwoot_health.models.artifact import SCHEMA_VERSION, Artifact

    if model is None:
        model = Artifact
    if isinstance(raw, NotReadable):
        raise ValueError(raw.strerror)
    if isinstance(raw, OSError):
        raise ValueError(f"unreadable: {raw.strerror or raw}")
    try:
        # Fast path: pydantic-core parses and validates in one pass. Only a failure takes the
        # slow path below, which exists to say precisely what is wrong.
        return model.model_validate_json(raw)
    except ValidationError:
        pass
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = "truncated JSON" if "Expecting" in str(exc) and raw.strip() else "not JSON"
        raise ValueError(f"{kind} ({exc.__class__.__name__}: {str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ValueError("not an artifact: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ValueError(f"not an artifact: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(data, dict):
        raise ValueError("not an artifact: the top level is not a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"unknown schema_version {version!r} (this tool reads {SCHEMA_VERSION})")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ValueError(f"not a valid artifact: {where}: {first['msg']}") from None


def read_window(
    directory: Path | ArtifactDirectory,
    start: datetime,
    end: datetime,
    slack: timedelta = timedelta(seconds=1),
    detail_since: datetime | None = None,
    index: bool = True,
    freeze: bool = False,
) -> ArtifactSet:
    """Load every artifact whose name lies in the window; skip (and count) what is not valid.

    A file is trusted by content, not by name: one whose ``checked_at`` falls outside
    ``[start - slack, end]`` although its name is inside is skipped too. Artifacts named before
    ``detail_since`` are read without their per-inbox data; see :func:`_read_into`. With
    ``index``, unchanged files are taken from the run index instead of being parsed, and the
    files parsed are added to it (see :mod:`chatwoot_health.artifacts.index`). ``freeze``: the
    runs read live as long as the process (a command that exits): see :func:`_gc_paused`.
    """
    listing = (
        directory if isinstance(directory, ArtifactDirectory) else ArtifactDirectory(directory)
    )
    result = ArtifactSet()
    with _gc_paused(freeze):
        runs = RunIndex.open(listing.path) if index else None
        try:
            _read_into(result, listing, start, end, slack, detail_since, runs)
        finally:
            if runs is not None:
                runs.close()
    result.artifacts.sort(key=lambda artifact: artifact.checked_at)
    result.skipped.sort(key=lambda skipped: skipped.path.name)
    return result


@contextlib.contextmanager
def _gc_paused(freeze: bool) -> Iterator[None]:
    """Parsing thousands of artifacts allocates millions of acyclic objects; the cyclic GC would
    rescan them over and over (it tripled the time of a 30-day report). Nothing here is cyclic.

    ``freeze``: what was loaded lives for the rest of the process (``report`` on the command
    line, which exits): ``gc.freeze()`` keeps later collections from rescanning it (objects are
    still freed by reference counting). Never in a process that runs for months (``serve``):
    every cycle alive at that moment would stay uncollected for good."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def _read_into(
    result: ArtifactSet,
    listing: ArtifactDirectory,
    start: datetime,
    end: datetime,
    slack: timedelta,
    detail_since: datetime | None,
    runs: RunIndex | None,
) -> None:
    """Parse the window with msgspec, the per-inbox buckets only where they can matter.

    Runs named from ``detail_since`` on are decoded with their buckets (``DetailedRunRecord``,
    ~15 µs a file), every other run without them (``RunRecord``, ~10 µs); whatever msgspec
    rejects is parsed again with :class:`Artifact` for the precise message.

    With the run index: a file whose identity (size, modification time, inode) is its row's is
    taken from the row (see :func:`_from_index`); the others are read, and the newest
    :data:`ADD_PER_RUN` of them added in one short transaction, with the removal of the rows of
    files gone from the window.
    """
    base = os.fspath(listing.path) + os.sep
    earliest = start - slack
    names, misnamed = listing.scan(start, end)
    where = listing.relpath
    result.skipped.extend(Skipped(listing.path / rel, reason) for rel, reason in misnamed)
    rows: dict[str, Row] = {}
    if runs is not None and names:
        try:
            rows = runs.rows(names[0][1], names[-1][1] + "\0")
        except IndexUnavailable as exc:
            if str(exc):
                notice(str(exc))
            runs = None
    valid = _unchanged_names(listing, names, rows) if rows else set()
    missing = [name for _stamp, name in names if name not in valid]
    to_add = set(missing[-ADD_PER_RUN:]) if runs is not None else set()
    indexed = (
        _from_index(runs, names, rows, valid, detail_since, earliest, end)
        if runs is not None
        else {}
    )
    added: list[tuple[str, Identity, DetailedRunRecord]] = []
    for stamp, name in names:
        if (record := indexed.get(name)) is not None:
            _place(result, listing, name, record, earliest, end)
            continue
        if name in valid:
            to_add.add(name)  # a damaged row: replaced from the file
        detailed = detail_since is None or stamp >= detail_since
        path = base + where(name)
        ident = identity(path) if name in to_add else None  # before reading
        raw = read_artifact_bytes(path)
        try:
            artifact = parse_record(raw, detailed)
        except ValueError as exc:
            result.skipped.append(Skipped(listing.file(name), str(exc)))
            continue
        _place(result, listing, name, artifact, earliest, end)
        if ident is not None and (full := _detailed(raw, artifact)) is not None:
            added.append((name, ident, full))
    if runs is not None:
        listed = {name for _stamp, name in names}
        runs.update(added, [name for name in rows if name not in listed])


def _unchanged_names(
    listing: ArtifactDirectory, names: list[tuple[datetime, str]], rows: dict[str, Row]
) -> set[str]:
    """The names whose file is still the one of their row: one ``lstat`` each, relative to the
    open directory of its month when it can be opened (no path walked 8,640 times)."""
    base = os.fspath(listing.path) + os.sep
    opened: dict[str, int | None] = {}  # a month (or "" for the top level) → its descriptor
    at_top = set(listing.at_top())
    valid: set[str] = set()
    try:
        for _stamp, name in names:
            if (row := rows.get(name)) is None:
                continue
            folder = "" if name in at_top else month_of_name(name)
            if folder not in opened:
                try:
                    opened[folder] = os.open(
                        base + folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                    )
                except OSError:
                    opened[folder] = None
            dir_fd = opened[folder]
            path = name if dir_fd is not None else base + listing.relpath(name)
            if unchanged(path, row.identity, dir_fd):
                valid.add(name)
        return valid
    finally:
        for fd in opened.values():
            if fd is not None:
                os.close(fd)


def _from_index(
    runs: RunIndex,
    names: list[tuple[datetime, str]],
    rows: dict[str, Row],
    valid: set[str],
    detail_since: datetime | None,
    earliest: datetime,
    end: datetime,
) -> dict[str, ArtifactCore]:
    """The runs of the unchanged files, from their rows (a damaged row is left out: its file is
    read). Most are an ``IndexedRun``, built from the row's head; a run's whole record
    (``DetailedRunRecord``, buckets included) is inflated only where its buckets can count: named
    from ``detail_since`` on, with buckets, and no later run of the window holding exactly the
    same bucket keys. Such a later run replaces every one of its buckets in the channels' merge
    (the latest run that has an (inbox, hour) wins), so the merge is the same without them: of
    the twelve runs of an hour, only the last is inflated. Newest first, to know the later runs.
    """
    found: dict[str, ArtifactCore] = {}
    #: bucket keys → the latest ``checked_at`` of a run in the window that holds exactly them
    latest_with: dict[bytes, datetime] = {}
    for stamp, name in reversed(names):
        if name not in valid:
            continue
        row = rows[name]
        head = runs.indexed_run(row)
        if head is None:
            continue
        if row.keys and (detail_since is None or stamp >= detail_since):
            later = latest_with.get(row.keys)
            if later is None or not head.checked_at < later:
                record = runs.decode(row.blob, detailed=True)
                if record is None:
                    continue
                found[name] = record
                if earliest <= record.checked_at <= end:  # what _place keeps
                    latest_with[row.keys] = max(later or record.checked_at, record.checked_at)
                continue
        found[name] = head
    return found


def _detailed(raw: bytes | OSError, artifact: ArtifactCore) -> DetailedRunRecord | None:
    """The run with its buckets, for the index: only what msgspec read (a file the full model
    had to read is parsed again every time, for exactly the same result)."""
    if isinstance(artifact, DetailedRunRecord):
        return artifact
    if not isinstance(artifact, RunRecord) or isinstance(raw, OSError):
        return None
    try:
        return DETAILED_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None


def _place(
    result: ArtifactSet,
    listing: ArtifactDirectory,
    name: str,
    artifact: ArtifactCore,
    earliest: datetime,
    end: datetime,
) -> None:
    """Keep a run whose ``checked_at`` lies in the window; skip (and say) one that does not."""
    if artifact.checked_at > end:
        if name[:16] == compact_stamp(end):
            # Checked in the same second as --at, a moment later: a normal file the name cannot
            # tell apart (names count whole seconds). Not in the report, and not an error.
            return
        reason = f"checked_at {iso(artifact.checked_at)} lies after {iso(end)}"
    elif artifact.checked_at < earliest:
        reason = f"checked_at {iso(artifact.checked_at)} lies before the window"
    else:
        result.artifacts.append(artifact)
        return
    result.skipped.append(Skipped(listing.file(name), reason))
