"""What the benchmarks share: the repository on ``sys.path`` (the test servers live in tests/),
whole ``chatwoot-health`` processes timed in wall and CPU time, interleaved rounds in a random
order, the medians of the rounds' differences and ratios, the machine's load, ``--before DIR``
(an earlier checkout timed in the same rounds), and a 30-day history of runs.

The machine is shared and its speed drifts: a benchmark compares A with B inside each round, so
drift hits both alike, and reports the median of the rounds' differences and ratios.

Import it first: ``from _harness import ...`` (``python benchmarks/bench_x.py`` puts benchmarks/
first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.hostile.support import CLI, child_env  # noqa: E402

#: The children's working directory: ``-m`` puts it first on ``sys.path``, so it must hold no
#: package, or ``--before``'s code would not win.
NEUTRAL = Path(tempfile.gettempdir())
STEP = timedelta(minutes=5)


def machine() -> str:
    """One line to print first: how busy the machine is, which Python."""
    one, five, _ = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs, load average {one:.1f} (5 min: {five:.1f}), "
        f"Python {sys.version.split()[0]}"
    )


# --------------------------------------------------------------------------- whole processes


@dataclass(frozen=True)
class Ran:
    wall: float
    #: The child's user + system time.
    cpu: float
    code: int
    stdout: str
    stderr: str


def run(
    command: Sequence[str] | str, env: Mapping[str, str] | None = None, cwd: Path = NEUTRAL
) -> Ran:
    """One whole process (a string: through the shell), timed: wall and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command,
        shell=isinstance(command, str),
        env=None if env is None else dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Ran(wall, cpu, done.returncode, done.stdout, done.stderr)


def cli(*args: str) -> list[str]:
    """``chatwoot-health ARGS`` as a command (the package of the environment's PYTHONPATH)."""
    return [*CLI, *args]


def env_for(env: Mapping[str, str], before: Path | None = None) -> dict[str, str]:
    """A child's clean environment (:func:`tests.hostile.support.child_env`) plus ``env``: this
    checkout's package, or ``before``'s."""
    return child_env(env, pythonpath=ROOT if before is None else before)


def interleaved(
    variants: Mapping[str, Callable[[], Ran]], rounds: int, seed: int, warm_up: bool = True
) -> dict[str, list[Ran]]:
    """``rounds`` rounds, each running every variant once in a random order (after one warm-up
    of each: the databases, the page cache)."""
    if warm_up:
        for action in variants.values():
            action()
    measured: dict[str, list[Ran]] = {name: [] for name in variants}
    rng = random.Random(seed)
    for _ in range(rounds):
        order = list(variants.items())
        rng.shuffle(order)
        for name, action in order:
            measured[name].append(action())
    return measured


def paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """The median of the rounds' differences (A − B) and of their ratios (A / B)."""
    pairs = list(zip(a, b, strict=True))
    return statistics.median(x - y for x, y in pairs), statistics.median(x / y for x, y in pairs)


# --------------------------------------------------------------------------- in-process timing


def times_of(action: Callable[[], object], runs: int) -> list[float]:
    """``action`` run ``runs`` times: each run's wall time in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def median_time(action: Callable[[], object], runs: int) -> float:
    return statistics.median(times_of(action, runs))


def best_of(runs: int, action: Callable[[], object]) -> float:
    return min(times_of(action, runs))


# --------------------------------------------------------------------------- --before, history


def add_before(parser: argparse.ArgumentParser, what: str) -> None:
    """``--before DIR``: an earlier checkout's code (``git archive <commit> chatwoot_health | tar
    -x -C DIR``, or ``git worktree add DIR <commit>``), timed in the same rounds."""
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help=f"also times an earlier checkout's code (a directory holding its chatwoot_health "
        f"package: git archive <commit> chatwoot_health | tar -x -C DIR): {what}",
    )


def checkout(before: Path | None) -> Path | None:
    """``--before``'s directory, checked: it must hold a ``chatwoot_health`` package."""
    if before is None:
        return None
    if not (before / "chatwoot_health" / "__init__.py").is_file():
        raise SystemExit(f"--before {before}: no chatwoot_health package there")
    return before.resolve()


def make_history(directory: Path, end: datetime, days: int = 30, seed: int = 1) -> int:
    """``days`` of healthy runs every 5 minutes ending at ``end`` (the demo's artifacts, no
    monitoring gap), written to ``directory``; how many."""
    from chatwoot_health.artifacts.store import write_artifact
    from chatwoot_health.demo import Scenario, make_artifact

    class NoGap(Scenario):
        def in_gap(self, t: datetime) -> bool:
            return False

    scenario = NoGap(end)
    rng = random.Random(seed)
    t, count = end - timedelta(days=days) + STEP, 0
    while t <= end:
        write_artifact(directory, make_artifact(t, scenario, rng, 1), durable=False)
        t += STEP
        count += 1
    return count
