"""How long one ``check`` takes when Chatwoot is slow, and what the check path imports.

    python benchmarks/bench_check.py [--runs 5] [--delay 0.4]

Runs ``run_check`` against the Chatwoot stand-in of the tests twice: every endpoint answering at
once, then every endpoint answering after ``--delay`` seconds. The liveness candidates, readiness
and the authenticated probes go out together, and the per-inbox reports need the inbox list
first, so a run should cost two round trips more against the slow server: the difference of the
medians must stay within 2.5 × the delay. A serial client would pay one delay per request.

Then it reports ``python -X importtime`` for the CLI module, the time from process start to the
first request, and whether anything of supabase was imported on the way.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import ROOT, env_for, machine, run, times_of

from chatwoot_health.check import CheckOptions, run_check
from chatwoot_health.state import ExitCode
from chatwoot_health.timeutil import utc_now
from tests.fixtures_chatwoot import fake_token, probe_settings
from tests.servers.chatwoot_server import ChatwootServer

ROUND_TRIPS_ALLOWED = 2.5


def timed_runs(server: ChatwootServer, runs: int, directory: Path) -> list[float]:
    settings = probe_settings(server, timeout=5.0)
    options = CheckOptions(settings, directory)

    def healthy_run() -> None:
        outcome = run_check(options, utc_now())
        if outcome.exit_code is not ExitCode.OK:
            failed = [(c.name, c.error) for c in outcome.artifact.checks if c.ok is False]
            raise SystemExit(f"the benchmark run was not OK: {failed}")

    healthy_run()  # warm-up: first-use costs are not what this measures
    return times_of(healthy_run, runs)


def import_profile(top: int) -> list[tuple[int, str]]:
    """The ``top`` imports by cumulative time (microseconds), their nesting kept as indentation."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import chatwoot_health.cli"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), name[1:].rstrip()))
    return sorted(rows, key=lambda row: row[0], reverse=True)[:top]


def startup_to_first_request(server: ChatwootServer) -> tuple[float, float, str]:
    """Spawn ``check`` in a fresh interpreter: seconds to its first request, total, and what it
    says about supabase."""
    code = (
        "import sys\n"
        "from chatwoot_health.cli import main\n"
        "try:\n"
        "    main(['check', '--no-artifact', '--format', 'json'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('supabase', 'postgrest'))\n"
        "print(f'exit={code} supabase_imported={\"supabase\" in sys.modules} {loaded}', "
        "file=sys.stderr)\n"
    )
    env = env_for({
        "CHATWOOT_BASE_URL": server.url, "CHATWOOT_API_TOKEN": server.token,
        "CHATWOOT_ACCOUNT_ID": "1", "AGENT_HEALTH_URL": server.agent_url,
    })  # fmt: skip
    before = len(server.requests)
    started = time.perf_counter()
    done = run([sys.executable, "-c", code], env)
    first = min(request.arrived for request in server.requests[before:])
    return first - started, done.wall, done.stderr.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.4)
    args = parser.parse_args()
    delay: float = args.delay

    with tempfile.TemporaryDirectory() as tmp, ChatwootServer(fake_token()) as fast, \
            ChatwootServer(fake_token()) as slow:  # fmt: skip
        slow.behaviour.delay = delay
        fast_times = timed_runs(fast, args.runs, Path(tmp) / "fast")
        slow_times = timed_runs(slow, args.runs, Path(tmp) / "slow")
        requests_per_run = len(slow.requests) // (args.runs + 1)
        to_first, process_total, supabase_line = startup_to_first_request(fast)

    fast_median = statistics.median(fast_times)
    slow_median = statistics.median(slow_times)
    difference = slow_median - fast_median
    round_trips = difference / delay
    print(machine())
    print(f"check, {args.runs} runs each (after one warm-up)")
    print(f"  answering at once:        median {fast_median * 1000:7.1f} ms  "
          f"(min {min(fast_times) * 1000:.1f}, max {max(fast_times) * 1000:.1f})")  # fmt: skip
    print(f"  answering after {delay * 1000:.0f} ms:   median {slow_median * 1000:7.1f} ms  "
          f"(min {min(slow_times) * 1000:.1f}, max {max(slow_times) * 1000:.1f})")  # fmt: skip
    print(f"  difference:               {difference * 1000:7.1f} ms = {round_trips:.2f} round "
          f"trips of {delay * 1000:.0f} ms (allowed: {ROUND_TRIPS_ALLOWED})")  # fmt: skip
    print(f"  serial baseline estimate: {requests_per_run} requests × {delay * 1000:.0f} ms = "
          f"{requests_per_run * delay:.1f} s")  # fmt: skip

    print("\npython -X importtime -c 'import chatwoot_health.cli': the slowest imports, cumulative")
    for microseconds, name in import_profile(15):
        print(f"  {microseconds / 1000:8.1f} ms  {name}")
    bare = run([sys.executable, "-c", "pass"]).wall
    print("\nfresh process running `check --no-artifact`:")
    print(f"  process start to first request: {to_first * 1000:.0f} ms; whole run "
          f"{process_total * 1000:.0f} ms")  # fmt: skip
    print(f"  (a bare `python -c pass` takes {bare * 1000:.0f} ms here)")
    print(f"  {supabase_line}")

    ok = round_trips <= ROUND_TRIPS_ALLOWED and "supabase_imported=False []" in supabase_line
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
