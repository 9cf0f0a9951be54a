"""Hostile tests of the CI gate's criteria (issue #13): ``report`` as a real process, in every
``--format``, writing to ``-o FILE``, ``> file``, a pipe, a closed stdout and ``/dev/full``; with
``--quiet``; under ``GITHUB_ACTIONS=true`` with a job summary that cannot be written.

The contract: the gate's verdict is the exit code (2 for the failing uptime criterion under
``--fail-on critical``) whenever the output was written; an output that cannot be written is
exit 3 and one line; never a traceback; the failing criterion reaches stderr exactly when no one
reads the output as it is written (a file) or the format cannot hold it, unless ``--quiet``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.hostile.support import CLI, child_env
from tests.test_integrations_gate import AT, UPTIME_LINE, history

FORMATS = ["table", "json", "csv", "html", "markdown", "nagios", "prometheus", "badge", "shields"]
#: The formats whose output cannot hold the criterion: stderr always carries it.
BARE = {"prometheus", "badge", "shields"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day with one failed run (uptime 99.653 % < 100 %) and a queue warning."""
    return history(tmp_path_factory.mktemp("gate"), pending=15)


def report(
    artifacts: Path,
    *args: str,
    stdout: str = "file",
    work: Path,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """``chatwoot-health report`` with stdout a ``file`` (returned), a ``pipe`` (returned), a
    pipe whose reader is ``gone``, ``closed`` (``>&-``) or ``full`` (``/dev/full``); the exit
    code, stdout and stderr."""
    command = [
        *CLI,
        "report",
        "--artifacts-dir",
        str(artifacts),
        "--at",
        AT,
        "--window",
        "24h",
        "--min-uptime",
        "100",
        "--fail-on",
        "critical",
        *args,
    ]
    base = child_env(env)
    if stdout == "closed":
        command = ["/bin/sh", "-c", '"$@" >&-', "sh", *command]
    out_path = work / "stdout"
    if stdout == "gone":  # a pipe whose reader went away before anything was written
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run(
                command, env=base, cwd=work, stdout=write_end, stderr=subprocess.PIPE,
                text=True, timeout=30,
            )  # fmt: skip
        finally:
            os.close(write_end)
        return done.returncode, "", done.stderr
    if stdout == "pipe":
        done = subprocess.run(
            command, env=base, cwd=work, capture_output=True, text=True, timeout=30
        )
        return done.returncode, done.stdout, done.stderr
    target = {"file": out_path, "full": Path("/dev/full")}.get(stdout, Path(os.devnull))
    with target.open("w") as sink:
        done = subprocess.run(
            command,
            env=base,
            cwd=work,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    text = out_path.read_text() if stdout == "file" else ""
    return done.returncode, text, done.stderr


def assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_to_every_output(artifacts: Path, tmp_path: Path, fmt: str) -> None:
    # -o FILE: written atomically; the criterion on stderr (no one reads the file as it goes).
    written = tmp_path / f"out.{fmt}"
    code, _, err = report(artifacts, "--format", fmt, "-o", str(written), work=tmp_path)
    assert_clean(err)
    assert code == 2, err
    assert written.stat().st_size > 0
    assert UPTIME_LINE in err.splitlines()

    # > file: the same, and the file holds the whole output.
    code, out, err = report(artifacts, "--format", fmt, work=tmp_path)
    assert_clean(err)
    assert (code, out) == (2, written.read_text()), err
    assert UPTIME_LINE in err.splitlines()

    # A pipe (a CI log, cron's mail): read as it is written; stderr repeats only what the
    # format cannot hold.
    code, out, err = report(artifacts, "--format", fmt, stdout="pipe", work=tmp_path)
    assert_clean(err)
    assert code == 2 and out
    assert (UPTIME_LINE in err.splitlines()) == (fmt in BARE), err

    # --quiet: nothing on stderr, the verdict in the exit code.
    code, _, err = report(artifacts, "--format", fmt, "--quiet", work=tmp_path)
    assert (code, err) == (2, "")

    # A closed stdout and /dev/full: exit 3, one line, no traceback, no partial verdict.
    for broken, says in (("closed", "stdout is closed"), ("full", "No space left on device")):
        code, _, err = report(artifacts, "--format", fmt, stdout=broken, work=tmp_path)
        assert_clean(err)
        assert code == 3, (broken, err)
        assert len(err.splitlines()) == 1 and says in err, (broken, err)
        assert "chatwoot-health: cannot write the report" in err

    # A reader gone before anything was written (`| head -1` on a slow report): exit 3, quietly
    # (stderr holds only what the format cannot hold, as with a pipe read to the end).
    code, _, err = report(artifacts, "--format", fmt, stdout="gone", work=tmp_path)
    assert_clean(err)
    assert code == 3, err
    assert "cannot write" not in err and "Broken pipe" not in err, err

    # -o /dev/full: the same.
    code, _, err = report(artifacts, "--format", fmt, "-o", "/dev/full", work=tmp_path)
    assert_clean(err)
    assert code == 3 and len(err.splitlines()) == 1 and "No space left" in err, err


def _fifo(path: Path) -> Path:
    os.mkfifo(path)  # no reader: opening it for writing without blocking fails
    return path


@pytest.mark.parametrize(
    "summary",
    ["missing-directory", "a-directory", "dev-full", "fifo-without-reader", "read-only-dir"],
)
def test_an_unwritable_job_summary_is_a_warning_and_the_verdict_stands(
    artifacts: Path, tmp_path: Path, summary: str
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    paths = {
        "missing-directory": tmp_path / "nowhere" / "summary.md",
        "a-directory": tmp_path,
        "dev-full": Path("/dev/full"),
        "fifo-without-reader": tmp_path / "summary.fifo",
        "read-only-dir": locked / "summary.md",
    }
    path = paths[summary]
    if summary == "fifo-without-reader":
        _fifo(path)
    if summary == "read-only-dir":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only directory")
        locked.chmod(0o500)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(path)}
    for fmt in ("table", "markdown", "prometheus"):
        code, _, err = report(artifacts, "--format", fmt, stdout="pipe", work=tmp_path, env=env)
        assert_clean(err)
        assert code == 2, err
        lines = err.splitlines()
        assert any(line.startswith("::error title=") for line in lines), err
        warnings = [line for line in lines if "job summary not written" in line]
        assert len(warnings) == 1 and str(path) in warnings[0], err
