"""The reports the app serves: the CLI's own code path, computed off the event loop, cached.

Every answer comes from the function ``report`` runs (:func:`_render`), so ``report.json`` and
``report.csv`` are the bytes the CLI prints for the same arguments and the dashboard is the page
``report --format html`` writes, plus the live block. Reports "as of now" are cached per
(format, window) until the artifacts directory changes (a run lands, ``prune`` deletes) or
:data:`FRESH_FOR` passes, and concurrent requests for the same report wait for one computation.

Reports are computed one at a time on one thread of their own: a 30-day report holds its 8,640
runs while it is computed, and two at once on two threads (the page's JSON and HTML after a run)
held two windows in two malloc arenas, which glibc kept (issue #11: 40 MB more at rest, and
growing). The cache keeps the current version only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

import anyio.to_thread

from chatwoot_health.artifacts import MONTH_DIR
from chatwoot_health.redact import redact_url
from chatwoot_health.render.context import LiveBlock
from chatwoot_health.serve.memory import release_memory
from chatwoot_health.serve.settings import ServeSettings
from chatwoot_health.serve.store import UNREACHABLE, Marker, StorePool

log = logging.getLogger("chatwoot_health.serve")

#: A report "as of now" is recomputed at least this often, so that age-based alerts
#: (``stale_data``) and "last checked N minutes ago" move on an idle directory too.
FRESH_FOR = 60.0
#: Reports "as of now" kept at most (the windows people ask for; the oldest goes first).
MAX_CACHED = 32
#: What a finished run recomputes ahead of the page's next poll, in this order (one thread):
#: the page, which the open page fetches when it sees the new version, then the state's JSON.
WARMED: tuple[Key, ...] = (("html", None, None), ("json", None, None))

Clock = Callable[[], datetime]
Key = tuple[str, float | None, datetime | None]
#: The artifact files' listing, the runs finished here, the store's marker (see :meth:`version`).
Version = tuple[int, int, int]


@dataclass
class Rendered:
    """One computed report, or why there is none."""

    body: str
    exit_code: int | None = None
    #: One line when there is no report: no artifacts (404), an unusable directory or setting (503).
    error: str | None = None
    status: int = 200
    #: What ``report`` would say on stderr: the store could not be read (the report is the
    #: local files'), files skipped.
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def alerts(self) -> list[dict[str, str]]:
        """``name``, ``severity`` and ``title`` of each alert of a JSON report."""
        if self.error is not None:
            return []
        try:
            data = json.loads(self.body)
        except ValueError:
            return []
        return [
            {key: str(alert.get(key, "")) for key in ("name", "severity", "title")}
            for alert in data.get("alerts", [])
            if isinstance(alert, dict)
        ]


def _render(
    settings: ServeSettings,
    fmt: str,
    window: timedelta | None,
    now: datetime,
    live: bool,
    block: LiveBlock | None,
    store: StorePool | None = None,
) -> Rendered:
    """Run ``report`` exactly as the CLI does (``live``: no ``--at`` was given), reading the
    store through ``store``'s pool when there is one."""
    from chatwoot_health.artifacts.store import DirectoryError
    from chatwoot_health.report.build import NoData
    from chatwoot_health.report.options import ReportOptions
    from chatwoot_health.report.run import run_report

    options = ReportOptions.of(settings.report, now, window, None, live=live)
    if store is not None and options.store is not None:
        options = replace(options, store_pool=store.pool)
    try:
        result = run_report(
            options, settings.report, fmt=fmt, detailed=False, colour=False, notify=False,
            live=block,
        )  # fmt: skip
    except NoData as exc:
        return Rendered("", error=str(exc), status=404)
    except DirectoryError as exc:
        return Rendered("", error=str(exc), status=503)
    finally:
        release_memory()
    return Rendered(result.text, int(result.exit_code), warnings=list(result.diagnostics))


class ReportService:
    """Computes and caches reports for the app; one instance per app."""

    def __init__(
        self,
        settings: ServeSettings,
        clock: Clock,
        generation: Callable[[], int],
        block: LiveBlock | None = None,
        store: StorePool | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.generation = generation
        self.block = block
        #: The shared store's pool (CHATWOOT_HEALTH_STORE), and its latest marker (polled).
        self.store = store
        self.store_marker: Marker = ()
        self._cache: dict[Key, tuple[Version, float, Rendered]] = {}
        self._flights: dict[Key, asyncio.Future[Rendered]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Each folder listed (the top level "", the month directories): its mtime and names.
        self._folders: dict[str, tuple[int, frozenset[tuple[str, int]]]] = {}
        #: The one thread reports are computed on (created with the first one).
        self._thread: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """At shutdown: let a computation in progress finish, then end the report thread."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
            self._thread = None

    def warm(self) -> None:
        """After a run (from its thread): recompute the reports someone has looked at, so the
        open page that notices the new version finds them ready."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for fmt, _, _ in (key for key in WARMED if key in self._cache):
            asyncio.run_coroutine_threadsafe(self.get(fmt), loop)

    def version(self) -> Version:
        """Changes whenever a run lands or an artifact file is added, deleted or replaced, and
        with a store, when any location's run is stored or pruned or the store stops or starts
        answering (:meth:`poll_store`)."""
        return self._listing(), self.generation(), hash(self.store_marker)

    async def poll_store(self, seconds: float) -> None:
        """Until cancelled (the app's lifespan): ask the store every ``seconds`` whether runs
        came in, off the event loop; a new marker makes every cached report stale."""
        store = self.store
        if store is None:
            return
        while True:
            try:
                marker = await anyio.to_thread.run_sync(store.marker, self.clock())
            except Exception as exc:  # the poll outlives anything the driver raises
                log.error("asking the store: %s: %s", type(exc).__name__, redact_url(str(exc)))
                marker = UNREACHABLE
            if marker != self.store_marker:
                if marker == UNREACHABLE or self.store_marker == UNREACHABLE:
                    log.warning(
                        "the store %s %s", store.where,
                        "cannot be read" if marker == UNREACHABLE else "answers again",
                    )  # fmt: skip
                self.store_marker = marker
            await asyncio.sleep(seconds)

    def _listing(self) -> int:
        """The artifact files' names and inodes, hashed, at the top level and in each month
        directory — each listed again only when its mtime moved (a new run changes its month's
        directory only). The mtime alone is no version: the state database beside the artifacts
        (the run index every report updates, the alert state) comes and goes with its
        journal. Only the folders there now are kept (a pruned month's names go with it)."""
        directory = os.fspath(self.settings.artifacts_dir)
        known, self._folders = self._folders, {}
        top = self._folder(directory, "", known)
        for month in sorted(name for name, _inode in top if MONTH_DIR.match(name)):
            self._folder(os.path.join(directory, month), month, known)
        return hash(
            tuple((key, mtime, hash(names)) for key, (mtime, names) in self._folders.items())
        )

    def _folder(
        self, path: str, key: str, known: dict[str, tuple[int, frozenset[tuple[str, int]]]]
    ) -> frozenset[tuple[str, int]]:
        """One folder's (name, inode) pairs, listed again only when its mtime moved since
        ``known``'s listing."""
        try:
            mtime = os.stat(path, follow_symlinks=not key).st_mtime_ns
            before = known.get(key)
            if before is not None and before[0] == mtime:
                names = before[1]
            else:
                with os.scandir(path) as entries:
                    names = frozenset(
                        (entry.name, entry.inode())
                        for entry in entries
                        if not entry.name.startswith(".")  # the databases, temporary files
                    )
        except OSError:
            mtime, names = -1, frozenset()  # no mtime: listed again when it can be
        self._folders[key] = (mtime, names)
        return names

    async def latest(self, fmt: str) -> Rendered:
        """The report "as of now", or while it is being recomputed the one before (``P/state``:
        its answer says the version moved without waiting for the new report)."""
        key: Key = (fmt, None, None)
        cached = self._cache.get(key)
        if cached is not None and key in self._flights:
            return cached[2]
        return await self.get(fmt)

    async def get(
        self, fmt: str, window: timedelta | None = None, at: datetime | None = None
    ) -> Rendered:
        self._loop = asyncio.get_running_loop()
        key: Key = (fmt, None if window is None else window.total_seconds(), at)
        version = self.version()
        if at is None:
            cached = self._cache.get(key)
            if (
                cached is not None
                and cached[0] == version
                and time.monotonic() - cached[1] < FRESH_FOR
            ):
                return cached[2]
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(self._compute(key, fmt, window, at, version))
            self._flights[key] = task
            task.add_done_callback(lambda _: self._flights.pop(key, None))
        # Shielded: a client that goes away does not cancel the others' computation.
        return await asyncio.shield(task)

    async def _compute(
        self,
        key: Key,
        fmt: str,
        window: timedelta | None,
        at: datetime | None,
        version: Version,
    ) -> Rendered:
        now = at if at is not None else self.clock()
        block = self.block if fmt == "html" else None
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="chatwoot-health-report")
        rendered = await asyncio.get_running_loop().run_in_executor(
            self._thread, _render, self.settings, fmt, window, now, at is None, block, self.store
        )
        if at is None:
            # the reports of an older version are served again only while their own are being
            # recomputed (latest): the others go
            current = self.version()
            stale = [
                k
                for k, (seen, _, _) in self._cache.items()
                if k == key or (seen != current and k not in self._flights)
            ]
            for old in stale:
                del self._cache[old]
            while len(self._cache) >= MAX_CACHED:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = (version, time.monotonic(), rendered)
        return rendered
