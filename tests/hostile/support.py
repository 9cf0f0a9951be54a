"""Run the real CLI as a child process and measure what it cost: exit code, output, wall time and
the child's own peak RSS (``os.wait4``, so one test's child never inherits another's peak).

Every hostile test asserts the same contract through :func:`assert_one_line_error`: an exit code,
one line on stderr, no traceback, memory and time bounded.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]


#: ``chatwoot-health`` as a child process: the package of PYTHONPATH (see :func:`child_env`).
CLI = (sys.executable, "-m", "chatwoot_health")


def child_env(env: Mapping[str, str] | None = None, pythonpath: Path = REPO) -> dict[str, str]:
    """A clean environment for a child ``chatwoot-health`` (the tests', the benchmarks'): PATH,
    a UTF-8 locale, the package of ``pythonpath``; plus ``env``, which wins."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(pythonpath),
        **(env or {}),
    }


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    wall_seconds: float
    peak_rss_mb: float
    timed_out: bool


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
    stdin: int | None = subprocess.DEVNULL,
) -> Outcome:
    """``python -m chatwoot_health ARGS`` with a clean environment plus ``env``.

    Killed (and reported as ``timed_out``) after ``timeout`` seconds; stdout and stderr go to
    temporary files, so an endless output cannot fill a pipe and hang the test.
    """
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [*CLI, *args],
            env=child_env({"NO_PROXY": "127.0.0.1,localhost", **(env or {})}),
            cwd=Path(cwd) if cwd is not None else Path.cwd(),
            stdout=out,
            stderr=err,
            stdin=stdin,
            preexec_fn=_memory_ceiling,
        )
        timed_out = False
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                timed_out = True
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        stdout, stderr = (_head(file) for file in (out, err))
    peak_kb = usage.ru_maxrss  # kilobytes on Linux
    return Outcome(proc.returncode, stdout, stderr, wall, peak_kb / 1024, timed_out)


def _head(file: IO[bytes], limit: int = 1_000_000) -> str:
    file.seek(0)
    return file.read(limit).decode("utf-8", "replace")


def assert_one_line_error(
    outcome: Outcome,
    code: int,
    *,
    contains: str = "",
    max_rss_mb: float = 150.0,
    max_seconds: float = 30.0,
) -> None:
    """The hostile-input contract: exit ``code``, a message on stderr whose lines are each one
    error (no traceback), peak memory and wall time bounded."""
    assert not outcome.timed_out, f"hung: killed after {outcome.wall_seconds:.1f} s"
    assert outcome.code == code, (outcome.code, outcome.stderr[-2000:])
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    assert "Traceback" not in outcome.stdout, outcome.stdout[-2000:]
    if contains:
        assert contains in outcome.stderr or contains in outcome.stdout, outcome.stderr[-2000:]
    assert outcome.peak_rss_mb < max_rss_mb, f"peak RSS {outcome.peak_rss_mb:.0f} MB"
    assert outcome.wall_seconds < max_seconds, f"took {outcome.wall_seconds:.1f} s"


def _memory_ceiling() -> None:  # pragma: no cover - runs in the child before exec
    """A hard ceiling (4 GiB of address space) so that a regressed bound fails the test with a
    MemoryError instead of taking the 2-core test machine down; the asserted bound is far lower."""
    limit = 4 * 1024 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
