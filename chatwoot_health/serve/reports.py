"""The reports the app serves: the CLI's own code path, computed off the event loop, cached.

Every answer comes from the function ``report`` runs (:func:`_render`), so ``report.json`` and
``report.csv`` are the bytes the CLI prints for the same arguments and the dashboard is the page
``report --format html`` writes, plus the live block. Reports "as of now" are cached per
(format, window) until the artifacts directory changes (a run lands, ``prune`` deletes) or
:data:`FRESH_FOR` passes, and concurrent requests for the same report wait for one computation.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import anyio.to_thread

from chatwoot_health.render.context import LiveBlock
from chatwoot_health.serve.settings import ServeSettings

#: A report "as of now" is recomputed at least this often, so that age-based alerts
#: (``stale_data``) and "last checked N minutes ago" move on an idle directory too.
FRESH_FOR = 60.0
#: Reports "as of now" kept at most (the windows people ask for; the oldest goes first).
MAX_CACHED = 32
#: What a finished run recomputes ahead of the page's next poll: the state's JSON, the page.
WARMED: tuple[Key, ...] = (("json", None, None), ("html", None, None))

Clock = Callable[[], datetime]
Key = tuple[str, float | None, datetime | None]


@dataclass
class Rendered:
    """One computed report, or why there is none."""

    body: str
    exit_code: int | None = None
    #: One line when there is no report: no artifacts (404), an unusable directory or setting (503).
    error: str | None = None
    status: int = 200
    diagnostics: list[str] = field(default_factory=list)

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
) -> Rendered:
    """Run ``report`` exactly as the CLI does (``live``: no ``--at`` was given)."""
    from chatwoot_health.artifacts.store import DirectoryError
    from chatwoot_health.report.build import NoData
    from chatwoot_health.report.options import ReportOptions
    from chatwoot_health.report.run import run_report
    from chatwoot_health.serve.runner import unfreeze

    options = ReportOptions.of(settings.report, now, window, None, live=live)
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
        unfreeze()
    return Rendered(result.text, int(result.exit_code), diagnostics=list(result.diagnostics))


class ReportService:
    """Computes and caches reports for the app; one instance per app."""

    def __init__(
        self,
        settings: ServeSettings,
        clock: Clock,
        generation: Callable[[], int],
        block: LiveBlock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.generation = generation
        self.block = block
        self._cache: dict[Key, tuple[tuple[int, int], float, Rendered]] = {}
        self._flights: dict[Key, asyncio.Future[Rendered]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen: tuple[int, int] = (-1, 0)  # the directory's mtime, the listing's hash

    def warm(self) -> None:
        """After a run (from its thread): recompute the reports someone has looked at, so the
        open page that notices the new version finds them ready."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for fmt, _, _ in (key for key in WARMED if key in self._cache):
            asyncio.run_coroutine_threadsafe(self.get(fmt), loop)

    def version(self) -> tuple[int, int]:
        """Changes whenever a run lands or an artifact file is added, deleted or replaced."""
        return self._listing(), self.generation()

    def _listing(self) -> int:
        """The artifact files' names and inodes, hashed — read again only when the directory's
        mtime moved. The mtime alone is no version: the state database beside the artifacts
        (the run index every report updates, the alert state) comes and goes with its journal."""
        directory = self.settings.artifacts_dir
        try:
            mtime = os.stat(directory).st_mtime_ns
            if mtime != self._seen[0]:
                with os.scandir(directory) as entries:
                    names = frozenset(
                        (entry.name, entry.inode())
                        for entry in entries
                        if not entry.name.startswith(".")  # the databases, temporary files
                    )
                self._seen = (mtime, hash(names))
        except OSError:
            self._seen = (0, 0)
        return self._seen[1]

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
        version: tuple[int, int],
    ) -> Rendered:
        now = at if at is not None else self.clock()
        block = self.block if fmt == "html" else None
        rendered = await anyio.to_thread.run_sync(
            _render, self.settings, fmt, window, now, at is None, block
        )
        if at is None:
            self._cache.pop(key, None)
            while len(self._cache) >= MAX_CACHED:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = (version, time.monotonic(), rendered)
        return rendered
