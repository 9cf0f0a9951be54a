"""Run the real CLI as a child process and measure what it cost: exit code, output, wall time and
the child's own peak RSS (``os.wait4`` in a small launcher, so a child never inherits the test
process's peak nor another test's).

Every hostile test asserts the same contract through :func:`assert_one_line_error`: an exit code,
one line on stderr, no traceback, memory and time bounded.
"""

from __future__ import annotations

import os
import signal
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
    temporary files, so an endless output cannot fill a pipe and hang the test. Started by
    :data:`_LAUNCHER`, so that its peak RSS is its own.
    """
    descriptor, name = tempfile.mkstemp(prefix="run-cli-")
    os.close(descriptor)
    report = Path(name)
    started = time.monotonic()
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(report), *args],
                env=child_env({"NO_PROXY": "127.0.0.1,localhost", **(env or {})}),
                cwd=Path(cwd) if cwd is not None else Path.cwd(),
                stdout=out,
                stderr=err,
                stdin=stdin,
                start_new_session=True,  # one process group: a timeout kills the CLI too
            )
            try:
                proc.wait(timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                timed_out = True
            wall = time.monotonic() - started
            stdout, stderr = (_head(file) for file in (out, err))
        code, peak_kb = proc.returncode, 0
        if not timed_out:
            code, peak_kb = (int(field) for field in report.read_text().split())
    finally:
        report.unlink()
    return Outcome(code, stdout, stderr, wall, peak_kb / 1024, timed_out)


#: What :func:`run_cli` starts: a small interpreter that forks the CLI, waits for it and writes
#: its exit code and peak RSS (kilobytes on Linux) to ``argv[1]``. Forked from the test process
#: itself, the CLI would report the test process's peak instead (Linux keeps the high-water mark
#: across fork and exec): hundreds of MB late in a full run. The hard ceiling of 4 GiB of address
#: space makes a regressed bound fail with a MemoryError instead of taking the 2-core test
#: machine down; the asserted bound is far lower.
_LAUNCHER = """\
import os, resource, sys
limit = 4 * 1024 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "chatwoot_health", *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


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
