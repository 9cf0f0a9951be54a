"""The CI gate (issue #13): --fail-on, the failing criteria in every format, GitHub Actions
annotations and the job summary, and the Markdown report."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatwoot_health.cli import main
from chatwoot_health.render.report import RENDERERS
from tests.factory import T0, artifact, write_all

M = timedelta(minutes=1)
AT = "2026-11-27T12:00:00Z"
ROOT = Path(__file__).resolve().parents[1]
UPTIME_LINE = (
    "CRITICAL uptime_below_target: measured uptime 99.653 %; threshold ≥ 100 % (--min-uptime); "
    "window 24h"
)


def history(directory: Path, *, down: bool = True, pending: int = 3) -> Path:
    """A day of 5-minute runs ending at T0; with ``down``, run 10 failed (uptime 99.653 %);
    ``pending`` above 10 makes the queue alert (a warning)."""
    start = T0 - timedelta(hours=24)
    runs = [
        artifact(start + 5 * M * (i + 1), up=not (down and i == 10), pending=pending)
        for i in range(288)
    ]
    write_all(directory, runs)
    return directory


def report(runner: CliRunner, directory: Path, *args: str) -> tuple[int, str, str]:
    """The exit code, stdout and stderr (without the "report: FILE" note of -o)."""
    result = runner.invoke(
        main,
        ["report", "--artifacts-dir", str(directory), "--at", AT, "--window", "24h", *args],
        catch_exceptions=False,
    )
    err = "".join(
        line for line in result.stderr.splitlines(True) if not line.startswith("report: ")
    )
    return result.exit_code, result.stdout, err


def test_fail_on_critical_lets_warnings_pass(tmp_path: Path, runner: CliRunner) -> None:
    history(tmp_path, down=False, pending=15)
    code, out, _ = report(runner, tmp_path)
    assert code == 1  # the default, --fail-on warning: today's behaviour
    assert "WARNING high_queue: measured 15 pending" in out
    code, out, err = report(runner, tmp_path, "--fail-on", "critical")
    assert code == 0
    assert "Failing criteria" not in out
    assert "high_queue (warning)" in out  # still shown
    assert err == ""


def test_the_gate_fails_on_its_own_criterion_with_the_number(
    tmp_path: Path, runner: CliRunner
) -> None:
    history(tmp_path, pending=15)
    code, out, _ = report(runner, tmp_path, "--min-uptime", "100", "--fail-on", "critical")
    assert code == 2
    assert f"  {UPTIME_LINE}\n" in out
    assert "high_queue:" not in out.split("Failing criteria:")[1]  # a warning is not failing


@pytest.mark.parametrize("value", ["error", "CRITICAL ", ""])
def test_a_fail_on_outside_the_list_is_one_line(
    tmp_path: Path, runner: CliRunner, value: str
) -> None:
    history(tmp_path)
    code, out, err = report(runner, tmp_path, "--fail-on", value)
    assert code == 3
    assert out == ""
    assert err == f"chatwoot-health: --fail-on: {value!r} is not one of warning, critical\n"


def test_criteria_repeat_on_stderr_when_the_output_is_a_file(
    tmp_path: Path, runner: CliRunner
) -> None:
    directory = history(tmp_path / "a")
    target = tmp_path / "report.txt"
    code, _, err = report(runner, directory, "--min-uptime", "100", "-o", str(target))
    assert code == 2
    assert UPTIME_LINE in target.read_text()
    assert err == UPTIME_LINE + "\n"


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_every_format_repeats_the_criteria_on_stderr_unless_quiet(
    tmp_path: Path, runner: CliRunner, fmt: str
) -> None:
    """Written to a file, every format says its failing criteria on stderr, one line each with
    the number, the threshold and the window; --quiet (cron's page and badge jobs) says nothing
    and the exit code still fails."""
    directory = history(tmp_path / "a", pending=15)
    target = tmp_path / f"out.{fmt}"
    args = ("--min-uptime", "100", "--format", fmt, "-o", str(target))
    code, out, err = report(runner, directory, *args)
    queue = "WARNING high_queue: measured 15 pending, more than 10 in 287 runs; threshold"
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == UPTIME_LINE
    assert err.splitlines()[1].startswith(queue), err
    assert len(err.splitlines()) == 2
    code, out, err = report(runner, directory, "--quiet", *args)
    assert (code, out, err) == (2, "", "")
    code, _, err = report(runner, directory, "--quiet", "--fail-on", "critical", *args)
    assert (code, err) == (2, "")
    assert target.stat().st_size > 0


@pytest.mark.parametrize("fmt", ["prometheus", "badge", "shields"])
def test_formats_that_cannot_hold_the_criteria_say_them_on_stderr(
    tmp_path: Path, runner: CliRunner, fmt: str
) -> None:
    directory = history(tmp_path / "a")
    code, out, err = report(runner, directory, "--min-uptime", "100", "--format", fmt)
    assert code == 2 and out
    assert err == UPTIME_LINE + "\n"


def test_the_data_formats_carry_each_criterion(tmp_path: Path, runner: CliRunner) -> None:
    """JSON: alerts[].criterion {measured, threshold, window}; CSV: one ``gate`` row per failing
    criterion, its value the line; the page: the criterion under the alert."""
    directory = history(tmp_path / "a", pending=15)
    code, out, _ = report(runner, directory, "--min-uptime", "100", "--format", "json")
    assert code == 2
    alerts = {alert["name"]: alert for alert in json.loads(out)["alerts"]}
    assert alerts["uptime_below_target"]["criterion"] == {
        "measured": "uptime 99.653 %",
        "threshold": "≥ 100 % (--min-uptime)",
        "window": "24h",
    }
    assert alerts["high_queue"]["criterion"]["measured"].startswith("15 pending")
    code, out, _ = report(runner, directory, "--min-uptime", "100", "--format", "csv")
    gate = [row for row in csv.reader(io.StringIO(out)) if row[0] == "gate"]
    assert gate[0][:3] == ["gate", "uptime_below_target", UPTIME_LINE]
    assert [row[1] for row in gate] == ["uptime_below_target", "high_queue"]
    code, out, _ = report(
        runner, directory, "--min-uptime", "100", "--format", "csv", "--fail-on", "critical"
    )
    assert [row[1] for row in csv.reader(io.StringIO(out)) if row[0] == "gate"] == [
        "uptime_below_target"
    ]
    code, out, _ = report(runner, directory, "--min-uptime", "100", "--format", "html")
    assert (
        "Measured uptime 99.653 %; threshold ≥ 100 % (--min-uptime); window 24h"
        in html.unescape(out)
    )


def test_criteria_on_stderr_when_stdout_is_redirected_to_a_file(tmp_path: Path) -> None:
    """A real process: stdout a regular file → the lines on stderr too; a pipe → not."""
    directory = history(tmp_path / "a")
    command = [
        sys.executable, "-m", "chatwoot_health", "report", "--artifacts-dir", str(directory),
        "--at", AT, "--window", "24h", "--min-uptime", "100",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GITHUB_ACTIONS", None)
    with (tmp_path / "out.txt").open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=env, check=False)
    assert done.returncode == 2
    assert done.stderr.decode() == UPTIME_LINE + "\n"
    piped = subprocess.run(command, capture_output=True, env=env, check=False)
    assert piped.returncode == 2
    assert piped.stderr == b""
    assert UPTIME_LINE in piped.stdout.decode()


def test_github_actions_annotations_and_summary(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(tmp_path / "a", pending=15)
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, _, err = report(runner, tmp_path / "a", "--min-uptime", "100", "--fail-on", "critical")
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == (
        "::error title=chatwoot-health%3A Uptime Below Target::"
        "CRITICAL uptime_below_target: measured uptime 99.653 %25; threshold ≥ 100 %25 "
        "(--min-uptime); window 24h"
    )
    assert lines[1].startswith(
        "::warning title=chatwoot-health%3A High Queue::WARNING high_queue: measured 15 pending"
    )
    assert len(lines) == 2
    text = summary.read_text()
    assert text.startswith("# earlier step\n\n## ✗ Chatwoot: CRITICAL")  # appended
    assert f"- {UPTIME_LINE.replace('_', chr(92) + '_')}" in text
    assert "### Failing criteria (--fail-on critical)" in text


def test_workflow_command_escaping() -> None:
    from chatwoot_health.models.alert import Alert, Severity
    from chatwoot_health.render.gate import workflow_commands

    alert = Alert(
        name="x", severity=Severity.CRITICAL, title="a: b, c", message="100% down\r\nnext"
    )
    assert workflow_commands([alert], Severity.WARNING) == [
        "::error title=chatwoot-health%3A a%3A b%2C c::CRITICAL x: 100%25 down next"
    ]


def test_an_unwritable_summary_is_a_warning_and_the_verdict_stands(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(tmp_path / "a", down=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no" / "such" / "dir" / "summary"))
    code, _, err = report(runner, tmp_path / "a")
    assert code == 0
    assert err == (
        f"chatwoot-health: job summary not written to {tmp_path}/no/such/dir/summary: "
        "No such file or directory\n"
    )


def test_no_annotations_outside_github_actions(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(tmp_path / "a")
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    _, _, err = report(runner, tmp_path / "a")
    assert "::" not in err
    assert not (tmp_path / "summary.md").exists()


def test_markdown_report(tmp_path: Path, runner: CliRunner) -> None:
    history(tmp_path)
    code, out, _ = report(runner, tmp_path, "--format", "markdown", "--min-uptime", "100")
    assert code == 2
    assert out.startswith("## ✗ Chatwoot: CRITICAL — https://chat.example.com\n")
    for heading in ("Failing criteria", "Uptime (last 24h)", "Response time", "Channels", "Alerts"):
        assert f"### {heading}" in out
    assert "| 99.653 % | 287 / 1 | 288 / 288 | 100.0 % |" in out


def test_markdown_escapes_remote_names() -> None:
    from chatwoot_health.render.markdown import md

    assert md("a|b <script>*x*\n[y](z)") == r"a\|b &lt;script&gt;\*x\* \[y\](z)"
