"""Benchmark: the run index — warm, cold and index-less `report --window 30d`, against `cat` and
the `jq -s` one-liner of bench_report.py, on two 30-day histories of 8,640 files (the benchmark's
3.1 KB artifacts, and compact 2.4 KB ones: the same runs with the current hour's per-inbox
buckets only), and a year directory (105,000 files, in month directories as ``check`` writes them;
``--flat-year``: also all at the top level, the layout before them) with a warm index.

    python benchmarks/bench_index.py [--before DIR] [--previous DIR] [--rounds N] [--keep DIR]
                                     [--flat-year]

``--before DIR``: a checkout of the commit before the index (``git worktree add /tmp/before
<commit>``); its `report` is "today's" cold run. ``--previous DIR``: a checkout of an earlier
version of the index, for "warm ÷ previous" (an A/B of a change). Each runs on its own copy of the
history, so that an index of another layout is never rebuilt back and forth. Every command is a
whole process; the commands run in turn, round after round (like hyperfine's interleaving, by
hand): each round yields one time per command and one ratio per pair, and the medians of both are
printed. A cold run deletes the index just before it starts (outside its time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, paired
from bench_report import END, JQ, add_older_year, make_history

from chatwoot_health.sqlite import DB_NAME

#: Every command runs here: ``python -m`` puts the working directory first on ``sys.path``, so
#: run from a checkout it would import that checkout's package whatever PYTHONPATH says.
NEUTRAL = tempfile.mkdtemp(prefix="bench-index-cwd-")
AT = END.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_compact(source: Path, target: Path) -> None:
    """The same runs, each with only the current hour's per-inbox buckets (~2.4 KB a file)."""
    target.mkdir()
    for path in sorted(source.rglob("*.json")):
        data = json.loads(path.read_bytes())
        buckets = data.get("inbox_activity")
        if buckets:
            last = max(bucket["hour"] for bucket in buckets)
            data["inbox_activity"] = [b for b in buckets if b["hour"] == last]
        copy = target / path.relative_to(source)
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(json.dumps(data, separators=(",", ":")))


def drop_index(directory: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (directory / (DB_NAME + suffix)).unlink(missing_ok=True)


def rebuild(directory: Path, pythonpath: Path | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "chatwoot_health", "index", "--rebuild", "--artifacts-dir",
         str(directory)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(pythonpath or ROOT)}, cwd=NEUTRAL,
    )  # fmt: skip


def copy_of(directory: Path, target: Path) -> Path:
    """A copy of the history's files (not its index), made once, laid out flat: the checkouts
    compared against (the commit before the index, an earlier index) wrote every file at the top
    level, and read only those."""
    if not target.exists():
        target.mkdir()
        for path in directory.rglob("*.json"):
            shutil.copy2(path, target / path.name)
    return target


def artifact_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*.json"))


def index_bytes(directory: Path) -> int:
    return sum(
        (directory / (DB_NAME + s)).stat().st_size
        for s in ("", "-wal")
        if (directory / (DB_NAME + s)).exists()
    )


@dataclass
class Command:
    argv: list[str] | str
    env: dict[str, str] | None = None
    before: Callable[[], None] | None = None


def run_rounds(commands: dict[str, Command], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(rounds):
        for label, command in commands.items():
            if command.before is not None:
                command.before()
            started = time.perf_counter()
            subprocess.run(
                command.argv,
                shell=isinstance(command.argv, str),
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # the alerts' lines
                env=command.env,
                cwd=NEUTRAL,
            )
            times[label].append(time.perf_counter() - started)
    return times


def report(directory: Path, pythonpath: Path | None = None) -> Command:
    env = {**os.environ, "PYTHONPATH": str(pythonpath or ROOT)}
    argv = [sys.executable, "-m", "chatwoot_health", "report", "--at", AT, "--window", "30d"]
    return Command([*argv, "--format", "json", "--artifacts-dir", str(directory)], env)


def ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """The median of the rounds' ratios (a / b)."""
    return paired(times[a], times[b])[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, help="checkout of the commit before the index")
    parser.add_argument("--previous", type=Path, help="checkout of an earlier index, for A/B")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the histories here")
    parser.add_argument(
        "--flat-year",
        action="store_true",
        help="also a year at the top level (the layout before the month directories)",
    )
    args = parser.parse_args()
    args.before = args.before and args.before.resolve()
    args.previous = args.previous and args.previous.resolve()
    if not shutil.which("jq"):
        raise SystemExit("jq is not on PATH: apt-get install jq (it is the baseline)")
    base = (args.keep or Path(tempfile.mkdtemp(prefix="bench-index-"))).resolve()
    base.mkdir(parents=True, exist_ok=True)
    month, compact, year = base / "month", base / "compact", base / "year"
    flat_year = base / "year-flat"
    if not month.exists():
        print(f"writing 30 days of artifacts to {month} …", file=sys.stderr)
        make_history(month, END)
    if not compact.exists():
        make_compact(month, compact)
    if not year.exists():
        print(f"writing a year of artifacts to {year} …", file=sys.stderr)
        add_older_year(month, year)
    if args.flat_year and not flat_year.exists():
        print(f"writing a year at the top level to {flat_year} …", file=sys.stderr)
        add_older_year(month, flat_year, flat=True)
    for directory in (month, compact, year, flat_year):
        drop_index(directory)
    results: dict[str, dict[str, float]] = {}
    for name, directory in (("benchmark", month), ("compact", compact)):
        cold_dir = base / f"{name}-cold"
        if not cold_dir.exists():
            shutil.copytree(directory, cold_dir)
        rebuild(directory)
        started = time.perf_counter()
        rebuild(directory)
        rebuild_s = time.perf_counter() - started
        commands: dict[str, Command] = {
            "cat": Command(f"cat {directory}/*/*.json > /dev/null"),
            "jq": Command(f"jq -s '{JQ}' {directory}/*/*.json > /dev/null"),
            "warm": report(directory),
            "cold": Command(
                report(cold_dir).argv, report(cold_dir).env, lambda d=cold_dir: drop_index(d)
            ),
        }
        if args.before is not None:
            commands["today"] = report(copy_of(directory, base / f"{name}-today"), args.before)
        if args.previous is not None:
            previous = copy_of(directory, base / f"{name}-previous")
            rebuild(previous, args.previous)
            commands["previous"] = report(previous, args.previous)
        if name == "benchmark":
            rebuild(year)
            commands["warm, year"] = report(year)
            if args.flat_year:
                rebuild(flat_year)
                commands["warm, flat year"] = report(flat_year)
        times = run_rounds(commands, args.rounds)
        print(f"\n{name} history: {artifact_bytes(directory) / 8640:.0f} B a file")
        for label, values in times.items():
            print(f"  {label:12} median {statistics.median(values):6.3f} s")
        row = {
            "warm/jq": ratio(times, "warm", "jq"),
            "warm/cat": ratio(times, "warm", "cat"),
            "index/artifacts": index_bytes(directory) / artifact_bytes(directory),
            "rebuild s": rebuild_s,
        }
        if "today" in times:
            row["cold/today"] = ratio(times, "cold", "today")
            row["warm/today"] = ratio(times, "warm", "today")
        if "previous" in times:
            row["warm/previous"] = ratio(times, "warm", "previous")
        if "warm, year" in times:
            row["year/month (warm)"] = ratio(times, "warm, year", "warm")
        if "warm, flat year" in times:
            row["flat year/month (warm)"] = ratio(times, "warm, flat year", "warm")
        results[name] = row
        for key, value in row.items():
            print(f"  {key:18} {value:6.3f}")
    if not args.keep:
        shutil.rmtree(base)
    os.rmdir(NEUTRAL)


if __name__ == "__main__":
    main()
