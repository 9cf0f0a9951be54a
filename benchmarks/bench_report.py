"""Benchmark: `report` over a 30-day window of 8,640 artifacts, against `cat` and a `jq` one-liner.

Also: the same 30-day report over a directory holding a year of artifacts (105,000 files, in month
directories), which should cost no more, because a report lists only its window's months. Both
directories' run indexes are rebuilt first, so that every report compared is a warm one.

    python benchmarks/bench_report.py [--keep DIR]

Needs `jq` on PATH for the baseline (Debian package `jq`). Runs every command once per round, in
a random order, 7 rounds (benchmarks/_harness.py), and prints the fastest wall-clock and CPU
(user + system) time of each, and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from _harness import STEP, cli, env_for, interleaved, machine, make_history, run

from chatwoot_health.artifacts.store import artifact_name, month_of_name

END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
JQ = (
    '[.[] | .checks[] | select(.name == "rails_health")] as $c'
    " | ($c | map(select(.ok == true)) | length) as $up"
    " | ($c | map(select(.ok == false)) | length) as $down"
    " | ($c | map(select(.ok == true) | .duration_ms) | sort) as $d"
    " | def pct(p): ($d | length) as $n | ((($n - 1) * p / 100)) as $h"
    " | ($h | floor) as $i | $d[$i] + ($h - $i) * (($d[[$i + 1, $n - 1] | min]) - $d[$i]);"
    " {uptime: ($up / ($up + $down) * 100), median: pct(50), p90: pct(90), p99: pct(99)}"
)


def add_older_year(source: Path, target: Path, flat: bool = False) -> int:
    """Copy the 30 days, then fill the 11 months before with real artifact bytes, each file in
    its month's directory as ``check`` writes it (``flat``: all at the top level, the layout
    before the month directories, until ``prune`` moves them)."""
    shutil.copytree(source, target)
    if flat:
        for path in list(target.glob("*/*.json")):
            path.rename(target / path.name)
            with contextlib.suppress(OSError):
                path.parent.rmdir()
    sample = next(iter(sorted(source.rglob("*.json")))).read_bytes()
    t, count = END - timedelta(days=30), len(list(source.rglob("*.json")))
    while count < 105_000:
        t -= STEP
        name = artifact_name(t)
        folder = target if flat else target / month_of_name(name)
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(sample)
        count += 1
    return count


Command = list[str] | str


def measure(commands: dict[str, Command], rounds: int = 7) -> dict[str, tuple[float, float]]:
    """label → (fastest wall time, fastest CPU time), the commands run in interleaved rounds
    (:func:`_harness.interleaved`): each command sees the same conditions, so their ratios hold
    even when the shared machine's speed drifts."""
    actions = {label: partial(run, command, env_for({})) for label, command in commands.items()}
    measured = interleaved(actions, rounds, seed=7, warm_up=False)
    return {
        label: (min(r.wall for r in rans), min(r.cpu for r in rans))
        for label, rans in measured.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, help="Keep the generated directories here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    month, year = base / "month", base / "year"
    if not month.exists():
        print(f"writing 30 days of artifacts to {month} …", file=sys.stderr)
        make_history(month, END)
    if not year.exists():
        print(f"writing a year of artifacts to {year} …", file=sys.stderr)
        add_older_year(month, year)
    for directory in (month, year):  # both indexes whole: the reports compared are all warm
        done = run(cli("index", "--rebuild", "--artifacts-dir", str(directory)), env_for({}))
        if done.code != 0:
            raise SystemExit(f"index --rebuild of {directory} failed: {done.stderr.strip()}")
    files = len(list(month.rglob("*.json")))
    size = sum(p.stat().st_size for p in month.rglob("*.json"))
    at = END.strftime("%Y-%m-%dT%H:%M:%SZ")
    report = cli("report", "--at", at, "--format", "json")
    if not shutil.which("jq"):
        raise SystemExit("jq is not on PATH: apt-get install jq (it is the baseline)")
    commands: dict[str, Command] = {
        "cat (floor)": f"cat {month}/*/*.json > /dev/null",
        "jq -s one-liner": f"jq -s '{JQ}' {month}/*/*.json",
        "report (default windows)": [*report, "--artifacts-dir", str(month)],
        "report --window 30d": [*report, "--window", "30d", "--artifacts-dir", str(month)],
        "report, year directory": [*report, "--artifacts-dir", str(year)],
        "process start-up (--version)": cli("--version"),
    }
    best = measure(commands)
    print(machine())
    print(f"artifacts in window: {files} files, {size / 1e6:.1f} MB")
    print("fastest of 7 interleaved rounds: wall, CPU (user + system)")
    for label, (wall, cpu) in best.items():
        print(f"  {label:30} {wall:6.3f} s  {cpu:6.3f} s")
    jq, cat = best["jq -s one-liner"], best["cat (floor)"]
    month_s, year_s = best["report (default windows)"], best["report, year directory"]
    window_s = best["report --window 30d"]
    print(
        f"ratio report / jq:             {month_s[0] / jq[0]:5.2f} wall, "
        f"{month_s[1] / jq[1]:5.2f} CPU"
    )
    print(f"ratio report --window 30d / jq: {window_s[0] / jq[0]:5.2f} wall")
    print(f"ratio report / cat:            {month_s[0] / cat[0]:5.2f} wall")
    print(
        f"ratio year / month directory:  {year_s[0] / month_s[0]:5.2f} "
        f"(+{year_s[0] - month_s[0]:.3f} s)"
    )
    if not args.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
