"""The seam between the web app and whatever runs the checks, and the scheduler behind it.

The app asks a :class:`Scheduler` for four things only: start one full check now
(:meth:`~Scheduler.run_now`), what the runs are doing (:meth:`~Scheduler.status`), when it last
ticked (``/healthz``), and to be told when a run finishes (the page's cache). :class:`ManualRunner`
is the part without a clock: one full ``check`` run in a worker thread through
:func:`chatwoot_health.check.run_check` — the function cron's ``check`` runs, so the artifact, the
confirmation of an outage and the notification are cron's own — at most one at a time.

:class:`BackgroundScheduler` adds the clock: a full check every ``CHATWOOT_HEALTH_INTERVAL`` and,
between two of them, the liveness probe alone every ``CHATWOOT_HEALTH_LIVENESS_INTERVAL``. A
liveness tick records nothing itself: when its verdict differs from the last run's (down after
up, or up again after down), it starts a full check at once, which confirms the outage with
``check``'s re-probes and thresholds, writes the artifact and notifies through the same state
database as cron — so the artifacts stay the one record and cron and ``serve`` on one directory
never page twice. Every run takes :attr:`ManualRunner.run_lock` ("Run check now" too), so runs
never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from chatwoot_health.check import CheckOptions, CheckOutcome, run_check
from chatwoot_health.models.artifact import CheckResult
from chatwoot_health.probes.chatwoot import ProbeSettings
from chatwoot_health.serve.memory import release_memory

log = logging.getLogger("chatwoot_health.serve")

Clock = Callable[[], datetime]
RunCheck = Callable[[CheckOptions, datetime], CheckOutcome]
Liveness = Callable[[ProbeSettings, datetime], CheckResult]
#: A confirmation's wait between two re-probes looks this often whether the process is stopping.
STOP_POLL_SECONDS = 0.1


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

    def on_finished(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from any thread) after each finished run."""

    def start(self) -> None: ...

    def stop(self, timeout: float) -> None:
        """Stop, waiting at most ``timeout`` seconds for a run in progress."""


class Stopping(Exception):
    """The process is stopping: a confirmation's wait ends early, and the run writes what it
    has (the artifact is complete or, if the process ends first, absent)."""


class ManualRunner:
    """Runs ``check`` on demand only. Without a background loop it is alive whenever the
    process is, so :meth:`last_tick` is the current time."""

    def __init__(
        self,
        options: CheckOptions | None,
        clock: Clock,
        stale_after: timedelta = timedelta(minutes=15),
        run: RunCheck | None = None,
    ) -> None:
        self.options = options
        self.clock = clock
        self.stale_after = stale_after
        self._run: RunCheck = run or self._check
        #: Held for the whole of a run: the one thing that keeps runs from overlapping.
        self.run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._status = RunStatus()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[], None]] = []
        self._stopping = threading.Event()
        #: ``time.monotonic()`` when the latest run started (None: none has).
        self.last_started: float | None = None
        #: The latest run's liveness verdict: True down, False up (None: none judged yet).
        self.last_down: bool | None = None

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
        self._stopping.set()
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
            self.last_started = time.monotonic()
            thread = threading.Thread(
                target=self._work, args=(self.options,), name="chatwoot-health-check", daemon=True
            )
            self._thread = thread
            thread.start()
        except BaseException:
            self.run_lock.release()
            raise
        return True

    def _check(self, options: CheckOptions, now: datetime) -> CheckOutcome:
        """``check``'s own run, its confirmation's waits cut short when the process stops."""
        return run_check(options, now, sleep=self._sleep)

    async def _sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if self._stopping.is_set():
                raise Stopping
            await asyncio.sleep(min(left, STOP_POLL_SECONDS))

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
            if outcome.artifact.liveness != "unknown":
                self.last_down = outcome.artifact.liveness == "down"
            _log_outcome(outcome)
        except Exception as exc:  # the runner survives every run: one line, and on
            error = f"the run failed: {type(exc).__name__}: {exc}"
            log.error("check: %s", error)
            exit_code = 3
        finally:
            release_memory()
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
            try:
                listener()
            except Exception as exc:
                log.error("after the run: %s: %s", type(exc).__name__, exc)


def _log_outcome(outcome: CheckOutcome) -> None:
    """What ``check`` says on stderr, one line each, in the server's log."""
    if outcome.write_error is not None:
        log.error("check: the artifact was not written: %s", outcome.write_error)
    notified = outcome.notified
    for line in outcome.problems + (notified.failures if notified else []):
        log.warning("check: %s", line)
    if notified is not None:
        for name in notified.started:
            log.info("check: alert started: %s", name)
        for name in notified.resolved:
            log.info("check: alert resolved: %s", name)


class BackgroundScheduler(ManualRunner):
    """A full check every ``interval`` (counted from the latest run's start, whoever started
    it), the liveness probe alone every ``liveness_interval`` in between, and a full check at
    once when the liveness verdict changes. It ticks while a run is in progress (the run probes
    liveness itself), so a long confirmation never makes ``/healthz`` stale."""

    def __init__(
        self,
        options: CheckOptions,
        clock: Clock,
        interval: timedelta,
        liveness_interval: timedelta,
        *,
        run: RunCheck | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        super().__init__(options, clock, stale_after=3 * liveness_interval, run=run)
        self.interval = interval.total_seconds()
        self.liveness_interval = liveness_interval.total_seconds()
        self._liveness: Liveness = liveness or _probe_liveness
        self._tick: datetime | None = None
        self._loop_thread: threading.Thread | None = None

    def last_tick(self) -> datetime | None:
        return self._tick

    def start(self) -> None:
        if self._loop_thread is not None:
            return
        self._loop_thread = threading.Thread(
            target=self._loop, name="chatwoot-health-scheduler", daemon=True
        )
        self._loop_thread.start()

    def stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._loop_thread is not None:
            self._loop_thread.join(max(0.0, deadline - time.monotonic()))
        super().stop(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._tick = self.clock()
            try:
                self._step()
            except Exception as exc:  # the scheduler survives every probe error: one line
                log.error("scheduler: %s: %s", type(exc).__name__, exc)
            self._tick = self.clock()
            self._stopping.wait(self._until_next())

    def _until_next(self) -> float:
        """Seconds to the next tick: one liveness interval, or less when the full check is due
        sooner (never a busy loop)."""
        if self.last_started is None or self.status().running:
            return self.liveness_interval
        due = self.last_started + self.interval - time.monotonic()
        return max(0.01, min(self.liveness_interval, due))

    def _step(self) -> None:
        if self.status().running:
            return  # the run probes liveness itself
        if self.last_started is None or time.monotonic() - self.last_started >= self.interval:
            self.run_now()
            return
        assert self.options is not None
        probe = self._liveness(self.options.probes, self.clock())
        if probe.ok is None:
            return  # no liveness path, or not judged: a full check says why
        down = probe.ok is False
        if down != bool(self.last_down):
            log.info(
                "liveness %s: running a full check now%s",
                "failed" if down else "answers again",
                f" ({probe.error})" if probe.error else "",
            )
            self.run_now()


def _probe_liveness(settings: ProbeSettings, now: datetime) -> CheckResult:
    from chatwoot_health.probes.chatwoot import probe_liveness

    return asyncio.run(probe_liveness(settings, now))


class RunUnavailable(Exception):
    """No check can run (Chatwoot is not configured); the message is one sentence."""
