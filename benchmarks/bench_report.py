"""Benchmark: `report` over a 30-day window of 8,640 artifacts, against `cat` and a `jq` one-liner.

Also: the same 30-day report over a directory holding a year of artifacts (105,000 files), which
must cost at most 20 % (or 0.1 s) more, because files are selected by name.

    python benchmarks/bench_report.py [--keep DIR]

Needs `jq` on PATH for the baseline (Debian package `jq`). Prints the fastest of 5 runs of
each (wall clock, and CPU time in user + system mode) and ratios.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chatwoot_health.artifacts import artifact_name, write_artifact
from chatwoot_health.demo import Scenario, make_artifact

END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
JQ = (
    '[.[] | .checks[] | select(.name == "rails_health")] as $c'
    " | ($c | map(select(.ok == true)) | length) as $up"
    " | ($c | map(select(.ok == false)) | length) as $down"
    " | ($c | map(select(.ok == true) | .duration_ms) | sort) as $d"
    " | def pct(p): ($d | length) as $n | ((($n - 1) * p / 100)) as $h"
    " | ($h | floor) as $i | $d[$i] + ($h - $i) * (($d[[$i + 1, $n - 1] | min]) - $d[$i]);"
    " {uptime: ($up / ($up + $down) * 100), median: pct(50), p90: pct(90), p99: pct(99)}"
)


class NoGap(Scenario):
    def in_gap(self, t: datetime) -> bool:
        return False


def make_history(directory: Path) -> int:
    scenario = NoGap(END)
    rng = random.Random(1)
    t, count = END - timedelta(days=30) + STEP, 0
    while t <= END:
        write_artifact(directory, make_artifact(t, scenario, rng, 1), durable=False)
        t += STEP
        count += 1
    return count


def add_older_year(source: Path, target: Path) -> int:
    """Copy the 30 days, then fill the 11 months before with real artifact bytes."""
    shutil.copytree(source, target)
    sample = next(iter(sorted(source.glob("*.json")))).read_bytes()
    t, count = END - timedelta(days=30), len(list(source.glob("*.json")))
    while count < 105_000:
        t -= STEP
        (target / artifact_name(t)).write_bytes(sample)
        count += 1
    return count


CPU: dict[str, float] = {}


def timed(command: list[str] | str, runs: int = 5) -> float:
    """The fastest of ``runs`` wall-clock times (on a shared machine, noise only ever adds);
    the fastest CPU time (user + system, children) goes to ``CPU[str(command)]``."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            command, shell=isinstance(command, str), check=False, stdout=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    CPU[str(command)] = min(cpu)
    return min(times)


def cpu_of(command: list[str] | str) -> float:
    return CPU[str(command)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, help="Keep the generated directories here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    month, year = base / "month", base / "year"
    if not month.exists():
        print(f"writing 30 days of artifacts to {month} …", file=sys.stderr)
        make_history(month)
    if not year.exists():
        print(f"writing a year of artifacts to {year} …", file=sys.stderr)
        add_older_year(month, year)
    files = len(list(month.glob("*.json")))
    size = sum(p.stat().st_size for p in month.glob("*.json"))
    at = END.strftime("%Y-%m-%dT%H:%M:%SZ")
    report = [
        sys.executable,
        "-m",
        "chatwoot_health",
        "report",
        "--window",
        "30d",
        "--at",
        at,
        "--format",
        "json",
    ]
    cat = f"cat {month}/*.json > /dev/null"
    jq = f"jq -s '{JQ}' {month}/*.json"
    month_cmd = [*report, "--artifacts-dir", str(month)]
    window_cmd = [*report, "--window", "30d", "--artifacts-dir", str(month)]
    year_cmd = [*report, "--artifacts-dir", str(year)]
    cat_s = timed(cat)
    if not shutil.which("jq"):
        raise SystemExit("jq is not on PATH: apt-get install jq (it is the baseline)")
    jq_s = timed(jq)
    month_s = timed(month_cmd)
    window_s = timed(window_cmd)
    year_s = timed(year_cmd)
    startup_s = timed([sys.executable, "-m", "chatwoot_health", "--version"])
    print(f"artifacts in window: {files} files, {size / 1e6:.1f} MB (fastest of 5; wall / CPU)")
    rows = [
        ("cat (floor)", cat_s, cpu_of(cat)),
        ("jq -s one-liner", jq_s, cpu_of(jq)),
        ("report (default windows)", month_s, cpu_of(month_cmd)),
        ("report --window 30d", window_s, cpu_of(window_cmd)),
        ("report, year directory", year_s, cpu_of(year_cmd)),
    ]
    for label, wall, cpu in rows:
        print(f"  {label:28} {wall:6.3f} s  {cpu:6.3f} s CPU")
    print(f"  process start-up (--version) {startup_s:6.3f} s")
    print(
        f"ratio report / jq:            {month_s / jq_s:5.2f} wall, "
        f"{cpu_of(month_cmd) / cpu_of(jq):5.2f} CPU"
    )
    print(f"ratio report / cat:           {month_s / cat_s:5.2f} wall")
    print(f"ratio year / month directory: {year_s / month_s:5.2f} (+{year_s - month_s:.3f} s)")
    if not args.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
