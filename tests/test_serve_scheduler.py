"""``serve``'s scheduler in-process: full checks on the interval, the liveness probe between them
starting a full check when its verdict changes, runs that never overlap, a scheduler that
survives every error, ``/healthz`` going stale, and an artifacts directory that becomes
unwritable mid-run (the page shows the error, the scheduler goes on). Real runs go to the
Chatwoot-like server on 127.0.0.1; the app runs under uvicorn.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from chatwoot_health.check import CheckOptions, CheckOutcome, run_check
from chatwoot_health.models.artifact import CheckResult
from chatwoot_health.probes.chatwoot import ProbeSettings
from chatwoot_health.serve.runner import BackgroundScheduler
from chatwoot_health.timeutil import utc_now
from tests.factory import artifact_files
from tests.serve_support import BREAK_GLASS, PREFIX, serve_settings, sign_in, start
from tests.servers.chatwoot_server import ChatwootServer, closed_port

TOKEN = "scheduler-token-0123456789abcdef"
HOUR = timedelta(hours=1)


def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {within:g} s"
        time.sleep(0.02)


def artifacts(directory: Path) -> list[dict[str, object]]:
    """The runs, oldest first (two in one second: their names do not order them)."""
    found = [json.loads(p.read_text()) for p in artifact_files(directory)]
    return sorted(found, key=lambda artifact: str(artifact["checked_at"]))


@pytest.fixture
def chatwoot() -> Iterator[ChatwootServer]:
    with ChatwootServer(TOKEN) as server:
        yield server


def options_for(server: ChatwootServer | str, directory: Path) -> CheckOptions:
    url = server if isinstance(server, str) else server.url
    check = serve_settings(directory, url, TOKEN).check
    assert check is not None
    return check


def nowhere(directory: Path) -> CheckOptions:
    """Runs against a closed loopback port (the tests that use it replace run and probe)."""
    return options_for(f"http://127.0.0.1:{closed_port()}", directory)


def up(_: ProbeSettings, __: datetime) -> CheckResult:
    return CheckResult(name="rails_health", ok=True, status_code=200)


@pytest.fixture
def stopping() -> Iterator[list[BackgroundScheduler]]:
    started: list[BackgroundScheduler] = []
    yield started
    for scheduler in started:
        scheduler.stop(10)


def test_a_full_check_runs_at_start_and_every_interval(
    chatwoot: ChatwootServer, tmp_path: Path, stopping: list[BackgroundScheduler]
) -> None:
    directory = tmp_path / "artifacts"
    scheduler = BackgroundScheduler(
        options_for(chatwoot, directory),
        utc_now,
        interval=timedelta(seconds=0.5),
        liveness_interval=timedelta(seconds=0.1),
    )
    stopping.append(scheduler)
    scheduler.start()
    wait_for(lambda: len(artifacts(directory)) >= 3, 5, "three scheduled runs")
    assert {a["status"] for a in artifacts(directory)} == {"ok"}
    status = scheduler.status()
    assert status.generation >= 3 and status.error is None and status.exit_code == 0
    tick = scheduler.last_tick()
    assert tick is not None and (utc_now() - tick).total_seconds() < 1
    assert scheduler.stale_after == timedelta(seconds=0.3)


def test_a_liveness_failure_runs_a_full_check_at_once_and_its_end_another(
    chatwoot: ChatwootServer, tmp_path: Path, stopping: list[BackgroundScheduler]
) -> None:
    """Down after up: a full check at once; still down: nothing more until the interval; up
    again: a full check at once — the artifacts record every change, and only the changes."""
    directory = tmp_path / "artifacts"
    scheduler = BackgroundScheduler(
        options_for(chatwoot, directory),
        utc_now,
        interval=HOUR,
        liveness_interval=timedelta(seconds=0.1),
    )
    stopping.append(scheduler)
    scheduler.start()
    wait_for(lambda: len(artifacts(directory)) == 1, 5, "the first run")
    chatwoot.fault("/health", "502")
    wait_for(lambda: len(artifacts(directory)) == 2, 2, "the run the liveness failure started")
    time.sleep(1.0)  # ten more failed ticks
    assert [a["status"] for a in artifacts(directory)] == ["ok", "down"]
    chatwoot.behaviour.faults.pop("/health")
    wait_for(lambda: len(artifacts(directory)) == 3, 2, "the run the recovery started")
    time.sleep(0.5)
    assert [a["status"] for a in artifacts(directory)] == ["ok", "down", "ok"]


def test_runs_never_overlap_and_a_manual_run_shares_the_lock(
    tmp_path: Path, stopping: list[BackgroundScheduler]
) -> None:
    inside = 0
    most = 0
    calls = 0
    guard = threading.Lock()

    def slow(options: CheckOptions, now: datetime) -> CheckOutcome:
        nonlocal inside, most, calls
        with guard:
            inside += 1
            calls += 1
            most = max(most, inside)
        time.sleep(0.3)
        with guard:
            inside -= 1
        return run_check(replace(options, write=False), now)

    options = nowhere(tmp_path)
    scheduler = BackgroundScheduler(
        options,
        utc_now,
        interval=timedelta(seconds=0.05),
        liveness_interval=timedelta(seconds=0.02),
        run=slow,
        liveness=up,
    )
    stopping.append(scheduler)
    scheduler.start()
    wait_for(lambda: scheduler.status().running, 2, "a scheduled run")
    assert scheduler.run_now() is False  # "Run check now" while it runs: 409
    wait_for(lambda: calls >= 4, 5, "four runs")
    assert most == 1


def test_the_scheduler_survives_every_error(
    tmp_path: Path, stopping: list[BackgroundScheduler], caplog: pytest.LogCaptureFixture
) -> None:
    """A probe that raises, a run that raises: one log line each, and the ticks go on."""

    def broken_probe(_: ProbeSettings, __: datetime) -> CheckResult:
        raise RuntimeError("the probe broke")

    def broken_run(_: CheckOptions, __: datetime) -> CheckOutcome:
        raise OSError("the run broke")

    options = nowhere(tmp_path)
    scheduler = BackgroundScheduler(
        options,
        utc_now,
        interval=timedelta(seconds=0.2),
        liveness_interval=timedelta(seconds=0.02),
        run=broken_run,
        liveness=broken_probe,
    )
    stopping.append(scheduler)
    with caplog.at_level(logging.INFO, logger="chatwoot_health.serve"):
        scheduler.start()
        wait_for(lambda: scheduler.status().generation >= 3, 5, "three failed runs")
        first = scheduler.last_tick()
        time.sleep(0.1)
    assert first is not None and scheduler.last_tick() != first  # still ticking
    assert scheduler._loop_thread is not None and scheduler._loop_thread.is_alive()
    status = scheduler.status()
    assert status.error == "the run failed: OSError: the run broke" and status.exit_code == 3
    messages = [record.getMessage() for record in caplog.records]
    assert "scheduler: RuntimeError: the probe broke" in messages
    assert "check: the run failed: OSError: the run broke" in messages
    assert all(
        record.exc_info is None and "\n" not in record.getMessage() for record in caplog.records
    )


def test_a_real_probe_that_hangs_is_bounded_by_the_run_deadline(
    chatwoot: ChatwootServer, tmp_path: Path, stopping: list[BackgroundScheduler]
) -> None:
    directory = tmp_path / "artifacts"
    options = options_for(chatwoot, directory)
    options = replace(options, probes=replace(options.probes, timeout=0.5, run_timeout=1.0))
    scheduler = BackgroundScheduler(
        options, utc_now, interval=HOUR, liveness_interval=timedelta(seconds=0.1)
    )
    stopping.append(scheduler)
    scheduler.start()
    wait_for(lambda: len(artifacts(directory)) == 1, 5, "the first run")
    chatwoot.behaviour.path_delays["/health"] = 30.0  # liveness hangs
    wait_for(lambda: len(artifacts(directory)) == 2, 4, "the run the hanging probe started")
    latest = artifacts(directory)[-1]
    assert latest["status"] == "down"
    wait_for(lambda: not scheduler.status().running, 4, "the run's end")
    tick = scheduler.last_tick()
    assert tick is not None and (utc_now() - tick).total_seconds() < 1.5


def test_healthz_is_503_once_the_last_tick_is_three_liveness_intervals_old(
    tmp_path: Path, stopping: list[BackgroundScheduler]
) -> None:
    hanging = threading.Event()

    def hangs(_: ProbeSettings, __: datetime) -> CheckResult:
        hanging.wait(5)
        return CheckResult(name="rails_health", ok=True)

    def quick(options: CheckOptions, now: datetime) -> CheckOutcome:
        return run_check(replace(options, write=False), now)

    options = nowhere(tmp_path)
    scheduler = BackgroundScheduler(
        options,
        utc_now,
        interval=HOUR,
        liveness_interval=timedelta(seconds=0.2),
        run=quick,
        liveness=hangs,
    )
    stopping.append(scheduler)
    live = start(serve_settings(tmp_path), clock=utc_now, scheduler=scheduler)
    try:
        with live.client() as client:
            wait_for(lambda: scheduler.status().generation >= 1, 5, "the first run")
            # The loop now waits on the hanging probe: stale after 3 × 0.2 s.
            wait_for(lambda: client.get("/healthz").status_code == 503, 3, "a stale /healthz")
            assert client.get("/healthz").json()["status"] == "stale"
            hanging.set()
            wait_for(lambda: client.get("/healthz").status_code == 200, 3, "a fresh /healthz")
    finally:
        hanging.set()
        live.stop()


def test_an_unwritable_directory_mid_run_shows_on_the_page_and_the_runs_go_on(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    """The artifacts directory's path becomes a file between two runs (root writes anywhere,
    so a file is what makes it unwritable): the run says so in ``P/state``, the scheduler goes
    on, and the first run after the directory is back writes again."""
    parent = tmp_path / "place"
    directory = parent / "artifacts"
    directory.mkdir(parents=True)
    settings = serve_settings(directory, chatwoot.url, TOKEN)
    assert settings.check is not None
    scheduler = BackgroundScheduler(
        settings.check,
        utc_now,
        interval=timedelta(seconds=0.4),
        liveness_interval=timedelta(seconds=0.1),
    )
    live = start(settings, clock=utc_now, scheduler=scheduler)
    try:
        with live.client() as client:
            assert sign_in(client, BREAK_GLASS).status_code == 303
            wait_for(lambda: len(artifacts(directory)) >= 1, 5, "the first run")
            moved = tmp_path / "moved"
            os.rename(parent, moved)
            parent.write_text("not a directory\n")
            generation = scheduler.status().generation
            wait_for(lambda: scheduler.status().generation >= generation + 2, 5, "two runs")
            run = client.get(f"{PREFIX}/state").json()["run"]
            assert run["error"] is not None and "cannot write" in run["error"]
            assert str(directory) in run["error"] and run["exit_code"] == 3
            assert scheduler._loop_thread is not None and scheduler._loop_thread.is_alive()
            parent.unlink()
            os.rename(moved, parent)
            count = len(artifacts(directory))
            wait_for(lambda: len(artifacts(directory)) > count, 5, "a run written again")
            wait_for(lambda: scheduler.status().error is None, 5, "a clean run")
            assert client.get(f"{PREFIX}/state").json()["run"]["error"] is None
    finally:
        live.stop()
        shutil.rmtree(tmp_path / "moved", ignore_errors=True)
