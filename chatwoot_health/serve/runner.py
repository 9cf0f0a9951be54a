"""The seam between the web app and whatever runs the checks.

The app asks a :class:`Scheduler` for three things only: start one full check now
(:meth:`~Scheduler.run_now`), what the runs are doing (:meth:`~Scheduler.status`), and when it
last ticked (``/healthz``). :class:`ManualRunner` is the part without a clock: one full ``check``
run in a worker thread through :func:`chatwoot_health.check.run_check` (the artifact is written
exactly as cron writes it), at most one at a time. The background scheduler (a full check every
``CHATWOOT_HEALTH_INTERVAL``, liveness in between) implements the same protocol on top of it and
shares its lock, so that no two runs ever overlap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from chatwoot_health.check import CheckOptions, CheckOutcome, run_check

log = logging.getLogger("chatwoot_health.serve")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RunStatus:
    """What the runs are doing, for the page and ``/metrics``."""

    running: bool = False
    #: Bumped after every finished run, so a page polls for "anything new?" with one number.
    generation: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    run_status: str | None = None
    #: One line: the artifact could not be written, or the run failed outright.
    error: str | None = None
    #: The latest run's probe durations in milliseconds (``/metrics``).
    probe_ms: tuple[tuple[str, float], ...] = ()


class Scheduler(Protocol):
    """What the app needs from whatever runs the checks."""

    #: ``/healthz`` answers 503 once the last tick is older than this.
    stale_after: timedelta

    def run_now(self) -> bool:
        """Start one full check in the background; False when a run is already in progress."""

    def status(self) -> RunStatus: ...

    def last_tick(self) -> datetime | None:
        """When the scheduler last proved alive (None: it has not started)."""

    def start(self) -> None: ...

    def stop(self, timeout: float) -> None:
        """Stop, waiting at most ``timeout`` seconds for a run in progress."""


class ManualRunner:
    """Runs ``check`` on demand only. Without a background loop it is alive whenever the
    process is, so :meth:`last_tick` is the current time."""

    def __init__(
        self,
        options: CheckOptions | None,
        clock: Clock,
        stale_after: timedelta = timedelta(minutes=15),
        run: Callable[[CheckOptions, datetime], CheckOutcome] | None = None,
    ) -> None:
        self.options = options
        self.clock = clock
        self.stale_after = stale_after
        self._run = run or run_check
        #: Held for the whole of a run: the one thing that keeps runs from overlapping.
        self.run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._status = RunStatus()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[], None]] = []

    def on_finished(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the worker thread) after each run."""
        self._listeners.append(listener)

    def status(self) -> RunStatus:
        with self._state_lock:
            return self._status

    def last_tick(self) -> datetime | None:
        return self.clock()

    def start(self) -> None:
        pass

    def stop(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def run_now(self) -> bool:
        if self.options is None:
            raise RunUnavailable(
                "checks cannot run here: set CHATWOOT_BASE_URL (and CHATWOOT_API_TOKEN and "
                "CHATWOOT_ACCOUNT_ID for the authenticated probes)"
            )
        if not self.run_lock.acquire(blocking=False):
            return False
        try:
            with self._state_lock:
                self._status = replace(
                    self._status, running=True, started_at=self.clock(), error=None
                )
            thread = threading.Thread(
                target=self._work, args=(self.options,), name="chatwoot-health-check", daemon=True
            )
            self._thread = thread
            thread.start()
        except BaseException:
            self.run_lock.release()
            raise
        return True

    def _work(self, options: CheckOptions) -> None:
        exit_code: int | None = None
        run_status: str | None = None
        error: str | None = None
        probe_ms: tuple[tuple[str, float], ...] = ()
        try:
            outcome = self._run(options, self.clock())
            exit_code, error = int(outcome.exit_code), outcome.write_error
            run_status = str(outcome.artifact.status.value)
            probe_ms = tuple(
                (check.name, float(check.duration_ms))
                for check in outcome.artifact.checks
                if check.duration_ms is not None and not check.skipped
            )
        except Exception as exc:  # the runner survives every run
            log.exception("check run failed")
            exit_code, error = 3, f"the run failed: {type(exc).__name__}: {exc}"
        finally:
            with self._state_lock:
                self._status = RunStatus(
                    running=False,
                    generation=self._status.generation + 1,
                    started_at=self._status.started_at,
                    finished_at=self.clock(),
                    exit_code=exit_code,
                    run_status=run_status,
                    error=error,
                    probe_ms=probe_ms or self._status.probe_ms,
                )
            self.run_lock.release()
        for listener in self._listeners:
            listener()


class RunUnavailable(Exception):
    """No check can run (Chatwoot is not configured); the message is one sentence."""
