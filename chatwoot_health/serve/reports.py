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

    def version(self) -> tuple[int, int]:
        """Changes whenever a run lands or the directory changes (one ``stat``)."""
        try:
            mtime = os.stat(self.settings.artifacts_dir).st_mtime_ns
        except OSError:
            mtime = 0
        return mtime, self.generation()

    async def get(
        self, fmt: str, window: timedelta | None = None, at: datetime | None = None
    ) -> Rendered:
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
            self._cache[key] = (version, time.monotonic(), rendered)
        return rendered
