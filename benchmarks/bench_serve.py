"""Benchmark: `chatwoot-health serve` over 30 days of artifacts (8,640 runs, ending now).

1. Load: 20 concurrent signed-in clients, each requesting `P/report.json` and the dashboard `P/`
   in turn for `--seconds`, while the scheduler runs a full check every 10 s (each run lands a
   new artifact and invalidates the cached reports, so some requests pay the recomputation).
   p50 / p95 / max per route (target: p95 < 200 ms).
2. A new run visible on an open page: headless Chromium (if /usr/bin/chromium and Playwright are
   installed; otherwise a client that does what live.js does: poll `P/state`, fetch the page when
   the version changes) signed in on the dashboard; the scheduler runs a check every 4 s. For
   each run, the time from the run's end (the scheduler's listener) to the page's next
   `chatwoot-health:updated` event — an upper bound of when it became visible (target < 2 s).
3. RSS across `--runs` (2,000) scheduled runs back to back (interval 0.05 s, liveness probe every
   0.01 s), with a client polling `P/state` every second and fetching the page when it changes, as
   an open page does. Every run is a real one: probes to the Chatwoot stand-in (in its own
   process, so its request log does not count), the artifact written and indexed, the alerts
   judged over 7 days and the notification state updated (a webhook channel). RSS is read from
   /proc after every 10 runs up to 100, then every 100 (the lowest and the highest of a second:
   the resting size and a peak), its growth counted from run 20, 100 and 200 to the end
   (target: growth < 20 MB). For each run that
   lands the oldest artifact is deleted, as the 30-day window slides in production (`--pile-up`:
   the runs accumulate in the window instead, 8,640 → 10,640).

    python benchmarks/bench_serve.py [--runs 2000] [--clients 20] [--seconds 30] [--pile-up]

The server is the app `serve` runs (create_app + BackgroundScheduler) under uvicorn on 127.0.0.1
in this process; the clients are httpx in threads.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _harness import ROOT, STEP, make_history

from chatwoot_health.artifacts.store import FILE_NAME
from chatwoot_health.check import Alerting
from chatwoot_health.notify.channels import webhook_channel
from chatwoot_health.serve.runner import BackgroundScheduler
from chatwoot_health.serve.settings import ServeSettings
from chatwoot_health.timeutil import utc_now
from tests.serve_support import (
    BREAK_GLASS,
    PREFIX,
    LiveServer,
    serve_settings,
    sign_in,
    start,
)
from tests.servers.receiver import Receiver

TOKEN = "bench-serve-token-0123456789abcdef"
#: RSS growth is counted from here: the server has served its first pages and runs (see main).
BASELINE_RUN = 20
CHROMIUM = Path("/usr/bin/chromium")
STAND_IN = (
    "import sys; sys.path.insert(0, sys.argv[1]);"
    "from tests.servers.chatwoot_server import ChatwootServer;"
    "s = ChatwootServer(sys.argv[2]).start(); print(s.port, flush=True); sys.stdin.read()"
)


#: RSS readings per sample, READ_EVERY seconds apart: a report computed at that moment holds its
#: window (tens of MB, handed back when it is done), so one reading is the resting size or a peak
#: by chance; the lowest of a second's readings is the resting size, the highest a peak.
READINGS, READ_EVERY = 10, 0.1
Sample = tuple[int, float, float]  # runs, lowest and highest RSS in MB


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p / 100))]


def settings_for(directory: Path, chatwoot_url: str, hook: str) -> ServeSettings:
    settings = serve_settings(directory, chatwoot_url, TOKEN, login_attempts_per_minute=10_000)
    assert settings.check is not None
    alerting = Alerting(channels=tuple(webhook_channel(hook)), interval=STEP)
    check = replace(
        settings.check,
        retry_interval=1.0,
        down_after=timedelta(seconds=4),
        alerting=alerting,
    )
    return replace(settings, check=check)


def scheduler_for(
    settings: ServeSettings, interval: float, liveness: float
) -> tuple[BackgroundScheduler, list[float]]:
    """The scheduler, and the wall-clock times at which its runs finished."""
    assert settings.check is not None
    scheduler = BackgroundScheduler(
        settings.check,
        utc_now,
        timedelta(seconds=interval),
        timedelta(seconds=liveness),
    )
    finished: list[float] = []
    scheduler.on_finished(lambda: finished.append(time.time()))
    return scheduler, finished


@contextlib.contextmanager
def signed_in(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client(timeout=120) as client:
        assert sign_in(client, BREAK_GLASS).status_code == 303
        yield client


# ------------------------------------------------------------------------------ 1. load


def load(live: LiveServer, clients: int, seconds: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"report.json": [], "dashboard": []}
    errors: list[str] = []
    lock = threading.Lock()
    routes = {"report.json": f"{PREFIX}/report.json", "dashboard": f"{PREFIX}/"}
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        with signed_in(live) as client:
            order = list(routes.items())
            if index % 2:
                order.reverse()
            while time.monotonic() < stop_at:
                for label, path in order:
                    started = time.perf_counter()
                    answer = client.get(path)
                    took = time.perf_counter() - started
                    with lock:
                        if answer.status_code != 200:
                            errors.append(f"{label}: {answer.status_code}")
                        times[label].append(took)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, e.g. {errors[:3]}")
    return times


# ------------------------------------------------------------------------------ 2. visible

PAGE_SPY = """
window.__updates = [];
document.addEventListener('chatwoot-health:updated', () => window.__updates.push(Date.now()));
"""


def visible_in_browser(live: LiveServer, finished: list[float], runs: int) -> list[float] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    from tests.dashboard_support import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(PAGE_SPY)
        page.goto(live.url + f"{PREFIX}/login")
        page.fill("input[name=token]", BREAK_GLASS)
        page.click("button[type=submit]")
        page.wait_for_url(live.url + f"{PREFIX}/")
        return _latencies(
            finished, runs, lambda: [t / 1000 for t in page.evaluate("window.__updates")]
        )


def visible_by_polling(live: LiveServer, finished: list[float], runs: int) -> list[float]:
    """What live.js does, in a thread: poll the state, fetch the page when the version moves."""
    from chatwoot_health.serve.app import POLL_SECONDS

    updates: list[float] = []
    done = threading.Event()

    def page() -> None:
        with signed_in(live) as client:
            version = None
            while not done.is_set():
                state = client.get(f"{PREFIX}/state").json()
                if version is not None and state["version"] != version:
                    client.get(f"{PREFIX}/")
                    updates.append(time.time())
                version = state["version"]
                done.wait(POLL_SECONDS)

    thread = threading.Thread(target=page)
    thread.start()
    try:
        return _latencies(finished, runs, lambda: list(updates))
    finally:
        done.set()
        thread.join()


def _latencies(finished: list[float], runs: int, updates: Callable[[], list[float]]) -> list[float]:
    first = len(finished) + 1  # from the next run on: the page is open by then
    deadline = time.monotonic() + runs * 10 + 30
    while len(finished) < first + runs:
        if time.monotonic() > deadline:
            raise SystemExit("the scheduled runs stopped")
        time.sleep(0.2)
    time.sleep(3)  # the last run's update
    seen = updates()
    out = []
    for end in finished[first : first + runs]:
        after = [t for t in seen if t >= end]
        out.append(after[0] - end if after else float("inf"))
    return out


# ------------------------------------------------------------------------------ 3. memory


def memory(
    live: LiveServer,
    scheduler: BackgroundScheduler,
    runs: int,
    directory: Path,
    steady: bool,
    trace: bool = False,
) -> list[Sample]:
    """RSS after every 10 runs up to 100, then every 100 (the lowest and highest of a second).
    ``steady``: for each run that lands, the oldest artifact goes, as the 30-day window slides in
    production (at a 5-minute interval 2,000 runs are a week, and the window holds 8,640 runs
    throughout); otherwise the runs pile up in the window (+23 %)."""
    samples: list[Sample] = []
    done = threading.Event()
    oldest = sorted(
        (p for p in directory.rglob("*.json") if FILE_NAME.match(p.name)), key=lambda p: p.name
    )
    removed = 0

    def page() -> None:
        with signed_in(live) as client:
            version = None
            while not done.is_set():
                state = client.get(f"{PREFIX}/state").json()
                if state["version"] != version:
                    client.get(f"{PREFIX}/")
                version = state["version"]
                done.wait(1.0)

    poller = threading.Thread(target=page)
    poller.start()
    base = scheduler.status().generation
    next_sample = 10
    first_snapshot: tracemalloc.Snapshot | None = None
    if trace:
        tracemalloc.start(5)
    try:
        while (count := scheduler.status().generation - base) < runs:
            while steady and removed < count:
                oldest[removed].unlink()
                removed += 1
            if count >= next_sample:
                samples.append(sample(count))
                _, low, high = samples[-1]
                print(f"   {count:5d} runs: RSS {low:.1f}–{high:.1f} MB", flush=True)
                if trace and first_snapshot is None and count >= BASELINE_RUN:
                    first_snapshot = tracemalloc.take_snapshot()
                next_sample += 10 if next_sample < 100 else 100
            time.sleep(0.05)
    finally:
        done.set()
        poller.join()
    samples.append(sample(scheduler.status().generation - base))
    if trace and first_snapshot is not None:
        top = tracemalloc.take_snapshot().compare_to(first_snapshot, "lineno")
        print(f"   Python heap growth from run {BASELINE_RUN} (tracemalloc), largest first:")
        for stat in top[:15]:
            print(f"      {stat}")
    return samples


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--visible-runs", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="use (and keep) this directory")
    parser.add_argument(
        "--pile-up", action="store_true", help="keep every run in the window (no sliding)"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help=f"memory phase: where the Python heap grew from run {BASELINE_RUN} on (slower)",
    )
    parser.add_argument(
        "--phase",
        choices=["all", "load", "memory"],
        default="all",
        help="all: load and visibility here, then memory in a fresh process (so the load's heap "
        "is not counted); load: only the first; memory: only that process",
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    directory = root / "artifacts"
    stand_in = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, str(ROOT), TOKEN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stand_in.stdout is not None
        chatwoot_url = f"http://127.0.0.1:{int(stand_in.stdout.readline())}"
        if not directory.exists():
            end = utc_now().replace(second=0, microsecond=0) - STEP
            started = time.perf_counter()
            count = make_history(directory, end)
            print(f"history: {count} runs in {time.perf_counter() - started:.1f} s")
        with Receiver() as receiver:
            settings = settings_for(directory, chatwoot_url, receiver.url())
            if args.phase == "memory":
                rss_across_runs(settings, args)
            else:
                load_and_visibility(settings, args)
        if args.phase == "all":
            flags = ["--runs", str(args.runs), "--keep", str(root), "--phase", "memory"]
            flags += ["--pile-up"] if args.pile_up else []
            flags += ["--tracemalloc"] if args.tracemalloc else []
            subprocess.run([sys.executable, __file__, *flags], check=True)
    finally:
        if stand_in.stdin is not None:
            stand_in.stdin.close()
        stand_in.wait(10)
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def load_and_visibility(settings: ServeSettings, args: argparse.Namespace) -> None:
    # 1. load, a run every 10 s
    scheduler, _ = scheduler_for(settings, interval=10.0, liveness=1.0)
    live = start(settings, clock=utc_now, scheduler=scheduler)
    try:
        with signed_in(live) as client:
            for label, path in (("report.json", "/report.json"), ("dashboard", "/")):
                started = time.perf_counter()
                assert client.get(PREFIX + path).status_code == 200
                print(f"first {label} (cold, index built): {time.perf_counter() - started:.3f} s")
            started = time.perf_counter()
            client.get(PREFIX + "/report.json?window=29d")  # not cached: one computation
            print(
                f"one report.json computation (warm index): {time.perf_counter() - started:.3f} s"
            )
        generation = scheduler.status().generation
        times = load(live, args.clients, args.seconds)
        landed = scheduler.status().generation - generation
        print(f"load: {args.clients} clients for {args.seconds:g} s, {landed} runs landed")
        for label, values in times.items():
            print(
                f"   {label:12s} n={len(values):5d}  p50 {pct(values, 50) * 1000:6.1f} ms"
                f"  p95 {pct(values, 95) * 1000:6.1f} ms  max {max(values) * 1000:6.1f} ms"
            )
    finally:
        live.stop()

    # 2. a new run visible on an open page, a run every 4 s
    scheduler, finished = scheduler_for(settings, interval=4.0, liveness=1.0)
    live = start(settings, clock=utc_now, scheduler=scheduler)
    try:
        how = "headless Chromium"
        latencies = visible_in_browser(live, finished, args.visible_runs)
        if latencies is None:
            how = "a polling client (no Chromium)"
            latencies = visible_by_polling(live, finished, args.visible_runs)
        print(
            f"visible ({how}, {len(latencies)} runs): median "
            f"{statistics.median(latencies):.2f} s, max {max(latencies):.2f} s"
        )
    finally:
        live.stop()


def sample(count: int) -> Sample:
    gc.collect()
    readings = []
    for _ in range(READINGS):
        readings.append(rss_mb())
        time.sleep(READ_EVERY)
    return count, min(readings), max(readings)


def rss_across_runs(settings: ServeSettings, args: argparse.Namespace) -> None:
    scheduler, _ = scheduler_for(settings, interval=0.05, liveness=0.01)
    live = start(settings, clock=utc_now, scheduler=scheduler)
    started = time.perf_counter()
    try:
        samples = memory(
            live, scheduler, args.runs, settings.artifacts_dir, not args.pile_up, args.tracemalloc
        )
    finally:
        live.stop()
    took = time.perf_counter() - started
    runs = samples[-1][0]
    print(f"memory: {runs} runs in {took:.0f} s ({took / runs * 1000:.0f} ms a run)")
    for label, at in (("resting (lowest)", 1), ("peak (highest)", 2)):
        values = [(taken[0], taken[at]) for taken in samples]
        final = values[-1][1]
        for after in (BASELINE_RUN, 100, 200):
            later = [mb for count, mb in values if count >= after]
            if not later:  # fewer --runs than that
                break
            warm = later[0]
            print(
                f"   {label}: from run {after} {warm:.1f} MB, at the end {final:.1f} MB (growth "
                f"{final - warm:+.1f} MB; range {min(later):.1f}–{max(later):.1f} MB)"
            )
        if args.pile_up:  # the window grew by one run per run
            first = next(mb for count, mb in values if count >= BASELINE_RUN)
            per_run = (final - first) * 1024 / (runs - BASELINE_RUN)
            print(f"   {label}: per run added to the window from run {BASELINE_RUN}: "
                  f"{per_run:+.1f} KiB")  # fmt: skip


if __name__ == "__main__":
    started_at = datetime.now(UTC)
    main()
    print(f"done in {(datetime.now(UTC) - started_at).total_seconds():.0f} s")
