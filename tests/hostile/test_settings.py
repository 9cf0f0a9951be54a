"""Hostile settings, options and output, through the real CLI in a child process.

Each case is the audit's smallest repro: exit 3 (UNKNOWN) with one line naming the variable or
option, no traceback, no secret echoed, memory and time bounded.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from chatwoot_health.models.artifact import InboxHour
from tests.factory import T0, artifact, write_all
from tests.hostile.support import REPO, Outcome, assert_one_line_error, run_cli

PASSWORD = "hunter2-s3cret"
# Nothing listens on port 9 of the loopback: a setting that got through would be "refused".
CHECK = ["check", "--liveness-only", "--no-artifact"]
BASE = {"CHATWOOT_BASE_URL": "http://127.0.0.1:9"}


def one_line(outcome: Outcome) -> str:
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    return lines[0]


def no_secret(outcome: Outcome, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in outcome.stdout, outcome.stdout
        assert secret not in outcome.stderr, outcome.stderr


# -- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHATWOOT_HEALTH_TIMEOUT", "nan"),
        ("CHATWOOT_HEALTH_TIMEOUT", "NaN"),
        ("CHATWOOT_HEALTH_TIMEOUT", "inf"),
        ("CHATWOOT_HEALTH_TIMEOUT", "1e999"),
        ("CHATWOOT_HEALTH_TIMEOUT", "-5"),
        ("CHATWOOT_HEALTH_TIMEOUT", "99999999999d"),
        ("CHATWOOT_HEALTH_TIMEOUT", "9" * 5000),
        ("AGENT_HEALTH_TIMEOUT", "nan"),
        ("AGENT_HEALTH_SLOW_AFTER", "nan"),
        ("AGENT_HEALTH_SLOW_AFTER", "-inf"),
        ("CHATWOOT_HEALTH_INTERVAL", "99999999999d"),
        ("CHATWOOT_ACCOUNT_ID", "9" * 5000),
    ],
)
def test_numbers_are_finite_and_in_range(tmp_path: Path, variable: str, value: str) -> None:
    outcome = run_cli([*CHECK], env={**BASE, variable: value}, cwd=tmp_path)
    if variable in ("CHATWOOT_HEALTH_INTERVAL", "CHATWOOT_ACCOUNT_ID"):  # not read by check
        outcome = run_cli(["report", "--artifacts-dir", "."], env={variable: value}, cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains=variable, max_seconds=10)
    assert one_line(outcome).startswith(f"chatwoot-health: {variable}")
    assert len(one_line(outcome)) < 300  # a 5,000-digit value is not echoed back


def test_supabase_timeout_nan(tmp_path: Path) -> None:
    outcome = run_cli(
        ["report", "--artifacts-dir", "."], env={"SUPABASE_TIMEOUT": "nan"}, cwd=tmp_path
    )
    assert_one_line_error(outcome, 3, contains="SUPABASE_TIMEOUT", max_seconds=10)
    one_line(outcome)


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "101", "1e999", "abc"])
def test_min_uptime_is_a_percentage(tmp_path: Path, value: str) -> None:
    outcome = run_cli(["report", "--artifacts-dir", ".", "--min-uptime", value], cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains="--min-uptime", max_seconds=10)


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_at_out_of_range_after_the_offset(tmp_path: Path, at: str) -> None:
    outcome = run_cli(["report", "--artifacts-dir", ".", "--at", at], cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains="out of range", max_seconds=10)
    assert "'--at'" in outcome.stderr


# -- control characters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHATWOOT_BASE_URL", "http://127.0.0.1:9/\x1b[2J"),
        ("CHATWOOT_BASE_URL", "http://127.0.0.1:9\n"),
        ("CHATWOOT_BASE_URL", "http://127.0.0.1:9/\x9b2J"),
        ("CHATWOOT_HEALTH_PATH", "/health\x1b]52;c;ZXZpbA==\x07"),
        ("CHATWOOT_HEALTH_PATH", "/he\talth"),
        ("AGENT_HEALTH_URL", "http://127.0.0.1:9/\x7f"),
        ("CHATWOOT_HEALTH_ARTIFACTS_DIR", "art\x1bifacts"),
    ],
)
def test_control_characters_are_refused(tmp_path: Path, variable: str, value: str) -> None:
    outcome = run_cli(CHECK, env={**BASE, variable: value}, cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains=variable, max_seconds=10)
    assert "control character" in one_line(outcome)
    assert "\x1b" not in outcome.stderr and "\x07" not in outcome.stderr


def test_a_control_character_in_a_path_option_is_refused(tmp_path: Path) -> None:
    outcome = run_cli(["report", "--artifacts-dir", "a\x1b[2Jb"], cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains="CHATWOOT_HEALTH_ARTIFACTS_DIR (option)")
    assert "\x1b" not in outcome.stderr


def test_a_nul_in_the_config_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('CHATWOOT_HEALTH_PATH = "/health\\u0000"\n')
    outcome = run_cli(["--config", "c.toml", *CHECK], env=BASE, cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains="CHATWOOT_HEALTH_PATH (config file)")
    assert "U+0000" in one_line(outcome)


# -- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["CHATWOOT_BASE_URL", "AGENT_HEALTH_URL", "SUPABASE_URL"])
@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{PASSWORD}@host:99999",  # fails on the port
        f"https://user:{PASSWORD}@host/",  # fails on the credentials
        f"ftp://user:{PASSWORD}@host/",  # fails on the scheme
        f"https://user:{PASSWORD}@ho st/",  # fails on the space
    ],
)
def test_a_password_in_a_url_is_never_echoed(tmp_path: Path, variable: str, url: str) -> None:
    args = CHECK if variable != "SUPABASE_URL" else ["report", "--artifacts-dir", "."]
    outcome = run_cli(args, env={**BASE, variable: url}, cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains=variable, max_seconds=10)
    no_secret(outcome, PASSWORD)


def test_a_password_in_a_url_option_is_never_echoed(tmp_path: Path) -> None:
    url = f"https://user:{PASSWORD}@host:99999"
    outcome = run_cli([*CHECK, "--base-url", url], cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains="CHATWOOT_BASE_URL (option)", max_seconds=10)
    no_secret(outcome, PASSWORD)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHATWOOT_API_TOKEN", f"tok {PASSWORD}"),
        ("CHATWOOT_API_TOKEN", f"{PASSWORD}\x1b"),
        ("SUPABASE_KEY", f"{PASSWORD} key"),
        ("ALERT_WEBHOOK_URL", f"https://hooks.example.com:99999/services/{PASSWORD}"),
        ("ALERT_WEBHOOK_URL", f"gopher://hooks.example.com/services/{PASSWORD}"),
    ],
)
def test_secret_settings_are_never_echoed(tmp_path: Path, variable: str, value: str) -> None:
    args = CHECK if variable == "CHATWOOT_API_TOKEN" else ["report", "--artifacts-dir", "."]
    env = {**BASE, variable: value}
    if variable == "CHATWOOT_API_TOKEN":
        args = ["check", "--no-artifact"]
        env["CHATWOOT_ACCOUNT_ID"] = "1"
    outcome = run_cli(args, env=env, cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains=variable, max_seconds=10)
    no_secret(outcome, PASSWORD)


# -- the config file -------------------------------------------------------------------------------


def test_config_dev_zero(tmp_path: Path) -> None:
    outcome = run_cli(["--config", "/dev/zero", *CHECK], env=BASE, cwd=tmp_path, timeout=20)
    assert_one_line_error(outcome, 3, contains="not a regular file", max_seconds=5)


def test_config_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    outcome = run_cli(["--config", str(fifo), *CHECK], env=BASE, cwd=tmp_path, timeout=20)
    assert_one_line_error(outcome, 3, contains="not a regular file", max_seconds=5)


def test_config_fifo_from_the_environment_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    env = {**BASE, "CHATWOOT_HEALTH_CONFIG": str(fifo)}
    outcome = run_cli(CHECK, env=env, cwd=tmp_path, timeout=20)
    assert_one_line_error(outcome, 3, contains="not a regular file", max_seconds=5)


def test_config_too_big(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:
        handle.truncate(2_000_000_000)  # sparse: 2 GB that cost nothing on disk
    outcome = run_cli(["--config", str(big), *CHECK], env=BASE, cwd=tmp_path, timeout=20)
    assert_one_line_error(outcome, 3, contains="too large", max_seconds=5)


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "CHATWOOT_ACCOUNT_ID = " + "9" * 5000 + "\n",
        "CHATWOOT_HEALTH_TIMEOUT = nan\n",
        "\xff\xfe = 1\n",
    ],
)
def test_config_hostile_toml(tmp_path: Path, text: str) -> None:
    (tmp_path / "c.toml").write_bytes(text.encode("utf-8", "surrogateescape"))
    if text.startswith("\xff"):
        (tmp_path / "c.toml").write_bytes(b"\xff\xfe = 1\n")
    outcome = run_cli(["--config", "c.toml", *CHECK], env=BASE, cwd=tmp_path, timeout=20)
    assert_one_line_error(outcome, 3, max_seconds=10)
    one_line(outcome)


# -- output ----------------------------------------------------------------------------------------

HOSTILE_NAMES = ['=HYPERLINK("http://x","y")', "+1", "-cmd", "@SUM(1)", "\tTAB", "\rCR"]


def test_csv_cells_cannot_be_formulas(tmp_path: Path) -> None:
    hour = T0 - timedelta(hours=2)
    activity = [
        InboxHour(inbox_id=i, channel_type=name, hour=hour, incoming_messages=5)
        for i, name in enumerate(HOSTILE_NAMES, start=1)
    ]
    write_all(tmp_path, [artifact(T0 - timedelta(minutes=5), activity=activity)])
    outcome = run_cli(
        ["report", "--artifacts-dir", ".", "--at", "2026-11-27T12:00:00Z", "--format", "csv"],
        cwd=tmp_path,
    )
    assert outcome.code in (0, 1, 2), outcome.stderr
    rows = list(csv.reader(io.StringIO(outcome.stdout, newline="")))
    cells = [cell for row in rows for cell in row]
    for cell in cells:
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
        if cell.startswith("-"):
            float(cell)  # only a negative number may start with a minus
    metrics = {row[1] for row in rows if row[0] == "channels"}
    assert '\'=HYPERLINK("http://x","y").messages' in metrics
    assert "'-cmd.messages" in metrics


def test_csv_cell_unit() -> None:
    from chatwoot_health.render.report_csv import cell

    assert cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert cell("+1") == "'+1"
    assert cell("-cmd") == "'-cmd"
    assert cell("@SUM(1)") == "'@SUM(1)"
    assert cell("\tx") == "' x"
    assert cell("\rx") == "' x"
    assert cell("\x1b[0m=1+2") == "'=1+2"
    assert cell("a\nb") == "a\nb"
    assert cell(-3.5) == -3.5
    assert cell("-3.5") == "-3.5"
    assert cell("-2e3") == "-2e3"
    assert cell(None) == ""
    assert cell("email") == "email"


ESCAPES = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m"


def test_terminal_escapes_in_remote_text_are_not_emitted(tmp_path: Path) -> None:
    hour = T0 - timedelta(hours=2)
    activity = [
        InboxHour(inbox_id=1, channel_type=f"Evil{ESCAPES}Inbox", hour=hour, incoming_messages=5)
    ]
    write_all(
        tmp_path,
        [
            artifact(T0 - timedelta(minutes=10), activity=activity),
            artifact(T0 - timedelta(minutes=5), up=False, error=f"HTTP 500: {ESCAPES}\x00boom"),
        ],
    )
    outcome = run_cli(
        ["report", "--artifacts-dir", ".", "--at", "2026-11-27T12:00:00Z", "--detailed"],
        cwd=tmp_path,
    )
    assert outcome.code in (1, 2), outcome.stderr
    assert "EvilInbox" in outcome.stdout
    assert "boom" in outcome.stdout
    for raw in ("\x1b", "\x07", "\x9b", "\x00"):
        assert raw not in outcome.stdout
        assert raw not in outcome.stderr


def test_check_table_strips_escapes() -> None:
    from chatwoot_health.models.artifact import CheckResult
    from chatwoot_health.render.check import render_table

    bad = CheckResult(name="api_services", ok=False, state="down", error=f"x{ESCAPES}y\nz")
    text = render_table(artifact(T0, extra_checks=[bad]), False)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "xy z" in text


# -- the last resort -------------------------------------------------------------------------------

BOOM = f"""
import chatwoot_health.report.run as report_run

def boom(*args, **kwargs):
    raise {{kind}}("cannot reach https://user:{PASSWORD}@db.example.com/x?apikey={PASSWORD}\\x1b[2J")

report_run.run_report = boom
"""


def patched(tmp_path: Path, kind: str = "RuntimeError") -> dict[str, str]:
    """A sitecustomize that makes ``report`` raise: an unexpected error, without touching the
    code under test."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BOOM.replace("{kind}", kind))
    return {"PYTHONPATH": f"{site}{os.pathsep}{REPO}"}


def test_an_unexpected_error_exits_unknown_with_one_line(tmp_path: Path) -> None:
    outcome = run_cli(["report", "--artifacts-dir", "."], env=patched(tmp_path), cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains="internal error: RuntimeError: cannot reach")
    line = one_line(outcome)
    assert "this is a bug; please report it (run with --debug for the traceback)" in line
    assert "https://***@db.example.com/x?apikey=***" in line
    no_secret(outcome, PASSWORD, "\x1b")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path: Path, how: str) -> None:
    env = patched(tmp_path)
    args = ["report", "--artifacts-dir", "."]
    if how == "flag":
        args = ["--debug", *args]
    else:
        env["CHATWOOT_HEALTH_DEBUG"] = "1"
    outcome = run_cli(args, env=env, cwd=tmp_path)
    assert outcome.code == 3
    assert "Traceback (most recent call last)" in outcome.stderr
    assert outcome.stderr.rstrip().splitlines()[-1].startswith("chatwoot-health: internal error")
    no_secret(outcome, PASSWORD, "\x1b")


def test_memory_error_exits_unknown(tmp_path: Path) -> None:
    outcome = run_cli(
        ["report", "--artifacts-dir", "."], env=patched(tmp_path, "MemoryError"), cwd=tmp_path
    )
    assert_one_line_error(outcome, 3, contains="internal error: MemoryError")


def test_interrupted_exits_unknown(tmp_path: Path) -> None:
    outcome = run_cli(
        ["report", "--artifacts-dir", "."], env=patched(tmp_path, "KeyboardInterrupt"), cwd=tmp_path
    )
    assert_one_line_error(outcome, 3, contains="chatwoot-health: interrupted")
    no_secret(outcome, PASSWORD)


def test_a_bad_option_still_exits_unknown(tmp_path: Path) -> None:
    outcome = run_cli(["report", "--no-such-option"], cwd=tmp_path)
    assert_one_line_error(outcome, 3, contains="No such option")


def test_a_closed_stdout_exits_quietly(tmp_path: Path) -> None:
    """``chatwoot-health schema | head -0``: the reader is gone before anything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "chatwoot_health", "schema"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 3
    assert proc.stderr == b""


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """``chatwoot-health report --format html | head -c 10`` on a 30-day demo history."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
    at = "2026-11-27T12:00Z"
    command = [sys.executable, "-m", "chatwoot_health"]
    subprocess.run(
        [*command, "demo", "--dir", "d", "--at", at],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    with (tmp_path / "stderr").open("wb") as errors:
        proc = subprocess.Popen(
            [*command, "report", "--artifacts-dir", "d", "--at", at, "--format", "html"],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
            cwd=tmp_path,
        )
        assert proc.stdout is not None
        proc.stdout.read(10)
        proc.stdout.close()
        code = proc.wait(timeout=60)
    stderr = (tmp_path / "stderr").read_text()
    assert code == 3, stderr
    assert stderr == ""
