"""``chatwoot-health report`` end to end on generated artifact histories (exact numbers)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from chatwoot_health.cli import main
from tests.factory import T0, artifact, artifact_files, write_all

M = timedelta(minutes=1)
H = timedelta(hours=1)
AT = "2026-11-27T12:00:00Z"


def run(runner: CliRunner, directory: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        main, ["report", "--artifacts-dir", str(directory), *args], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def day_of_runs(directory: Path, *, down_at: tuple[int, ...] = (), ms: float = 100.0) -> None:
    """288 runs, every 5 minutes, in the 24 h ending at T0; runs listed in down_at failed."""
    start = T0 - 24 * H
    write_all(
        directory,
        [artifact(start + 5 * M * (i + 1), up=i not in down_at, ms=ms) for i in range(288)],
    )


def test_json_report_numbers(tmp_path: Path, runner: CliRunner) -> None:
    day_of_runs(tmp_path, down_at=(10,))
    code, out, err = run(runner, tmp_path, "--window", "24h", "--at", AT, "--format", "json")
    data = json.loads(out)
    assert err == ""
    assert data["uptime"]["checks_up"] == 287
    assert data["uptime"]["checks_down"] == 1
    assert data["uptime"]["percent"] == pytest.approx(99.653)  # 287 / 288 = 99.6528 → 3 decimals
    assert data["uptime"]["expected_checks"] == 288
    assert data["uptime"]["coverage_percent"] == 100.0
    assert data["uptime"]["status"] == "yellow"
    assert data["window"] == {
        "label": "24h",
        "start": "2026-11-26T12:00:00.000Z",
        "end": "2026-11-27T12:00:00.000Z",
    }
    assert data["response_time"]["samples"] == 287
    assert data["response_time"]["median_ms"] == 100.0
    assert data["conversations"]["pending"] == 3
    assert [a["name"] for a in data["alerts"]] == ["uptime_below_target"]
    assert data["status"] == "warning" and data["exit_code"] == 1 and code == 1
    assert data["artifacts"] == {
        "read": 288,
        "skipped": 0,
        "skipped_files": [],
        "directory": str(tmp_path),
    }


def test_healthy_history_exits_ok_and_card_is_first(tmp_path: Path, runner: CliRunner) -> None:
    day_of_runs(tmp_path)
    code, out, _ = run(runner, tmp_path, "--window", "24h", "--at", AT)
    assert code == 0
    assert out.splitlines() == [
        "Chatwoot Status — ✓ Operational (https://chat.example.com)",
        "Service: ✓ Operational (100.00% uptime - last 24h)",
        "Last checked: 0 seconds ago",
        "Response Time: 100 ms median, P90 100 ms ✓ OK",
        "SLA Compliance: not configured",
        "Queue: 3 pending ✓ OK",
        "Alerts: none",
    ]


def test_outage_is_critical_and_launch_gate(tmp_path: Path, runner: CliRunner) -> None:
    day_of_runs(tmp_path, down_at=(286, 287))  # the last two runs, 5 minutes apart
    code, out, _ = run(runner, tmp_path, "--window", "24h", "--at", AT, "--format", "json")
    names = {a["name"]: a["severity"] for a in json.loads(out)["alerts"]}
    assert names["service_down"] == "critical" and code == 2
    # the launch-week gate: any downtime at all is critical
    day = tmp_path / "gate"
    day_of_runs(day, down_at=(5,))
    code, out, _ = run(
        runner, day, "--window", "7d", "--at", AT, "--min-uptime", "100", "--format", "json"
    )
    assert code == 2
    assert json.loads(out)["alerts"][0]["severity"] == "critical"


def test_detailed_table_lists_every_section(tmp_path: Path, runner: CliRunner) -> None:
    day_of_runs(tmp_path)
    code, out, _ = run(runner, tmp_path, "--at", AT, "--detailed")
    for title in (
        "Uptime (last 30d)",
        "Response time (last 30d, successful checks)",
        "Conversations",
        "Channels (last 24h)",
        "Agents",
        "SLA compliance",
        "Alerts",
    ):
        assert title in out.splitlines()
    lines = out.splitlines()
    assert "uptime                100.000% ✓ OK" in lines
    assert "runs seen / expected  288 / 288" in lines
    assert "pending    3" in lines
    assert "Human agents: 1 online (none), 0 busy, 2 offline" in lines
    assert "not configured (set SUPABASE_URL and SUPABASE_KEY)" in lines
    # a 30-day window over one day of history is not a monitoring gap: monitoring began then
    assert code == 0


def test_csv_one_row_per_metric(tmp_path: Path, runner: CliRunner) -> None:
    day_of_runs(tmp_path)
    code, out, _ = run(runner, tmp_path, "--window", "24h", "--at", AT, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "section",
        "metric",
        "value",
        "unit",
        "status",
        "window_start",
        "window_end",
    ]
    by_key = {(r["section"], r["metric"]): r for r in rows}
    assert by_key[("uptime", "percent")]["value"] == "100.0"
    assert by_key[("uptime", "percent")]["window_start"] == "2026-11-26T12:00:00.000Z"
    assert by_key[("response_time", "median_ms")]["value"] == "100.0"
    assert by_key[("conversations", "pending")]["value"] == "3"
    assert code == 0


def test_monitoring_gap_and_stale_data(tmp_path: Path, runner: CliRunner) -> None:
    start = T0 - 24 * H
    # runs only in the first 12 hours, then nothing: half the runs missing, data stale
    write_all(tmp_path, [artifact(start + 5 * M * (i + 1)) for i in range(144)])
    code, out, _ = run(runner, tmp_path, "--window", "24h", "--at", AT, "--format", "json")
    alerts = {a["name"]: a for a in json.loads(out)["alerts"]}
    assert alerts["monitoring_gap"]["message"] == (
        "monitoring gap: 144 of 288 runs missing — is cron running?"
    )
    assert "stale_data" in alerts
    assert json.loads(out)["uptime"]["percent"] == 100.0  # gaps are not downtime
    assert code == 1


def test_last_known_conversations_when_latest_run_failed(tmp_path: Path, runner: CliRunner) -> None:
    write_all(tmp_path, [artifact(T0 - 10 * M, pending=12), artifact(T0 - 5 * M, pending=None)])
    code, out, _ = run(runner, tmp_path, "--window", "1h", "--at", AT, "--format", "json")
    assert code == 1  # 2 of the 3 runs expected since monitoring began: monitoring_gap
    conv = json.loads(out)["conversations"]
    assert conv["pending"] == 12 and conv["stale"] is True
    assert conv["as_of"] == "2026-11-27T11:50:00.000Z"
    assert conv["status"] == "yellow" and conv["banner"] == "CX queue backlog"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "3x"], "Invalid value for '--window': '3x' is not a duration"),
        (["--window", "0h"], "'0h' is too short: a duration is at least one second"),
        (["--window", "99999999999d"], "is too long: at most 3660 days"),
        (["--interval", "0.0000001s"], "is too short"),
        (["--at", "yesterday"], "Invalid value for '--at': 'yesterday' is not a timestamp"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["--min-uptime", "101"], "Invalid value for '--min-uptime'"),
    ],
)
def test_bad_options_exit_unknown(
    tmp_path: Path, runner: CliRunner, args: list[str], message: str
) -> None:
    code, out, err = run(runner, tmp_path, *args)
    assert code == 3
    assert message in err
    assert out == ""
    # one line, no usage block: the program's name, Click's reason, where the help is
    assert err.count("\n") == 1
    assert err.startswith("chatwoot-health: Invalid value for '--")
    assert err.endswith(" (see chatwoot-health report --help)\n")


def test_a_usage_error_is_one_line_from_the_real_process(tmp_path: Path) -> None:
    """Through the console entry point (``run``), not Click's own standalone handling."""
    done = subprocess.run(
        [sys.executable, "-m", "chatwoot_health", "report", "--window", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr == (
        "chatwoot-health: Invalid value for '--window': 'nonsense' is not a duration: use a "
        "number and a unit, e.g. 90s, 5m, 24h, 7d or 2w (see chatwoot-health report --help)\n"
    )


def test_empty_directory_and_empty_window(tmp_path: Path, runner: CliRunner) -> None:
    code, _, err = run(runner, tmp_path, "--at", AT)
    assert code == 3
    assert err.splitlines() == [
        f"chatwoot-health: no artifacts in {tmp_path}: run `chatwoot-health check` first "
        "(or `chatwoot-health demo` to see a sample)"
    ]
    write_all(tmp_path, [artifact(T0 - 48 * H)])
    code, _, err = run(runner, tmp_path, "--window", "24h", "--at", AT)
    assert code == 3
    assert "no artifacts between 2026-11-26T12:00:00.000Z and 2026-11-27T12:00:00.000Z" in err


def test_bad_files_are_skipped_counted_and_named(tmp_path: Path, runner: CliRunner) -> None:
    day_of_runs(tmp_path)
    good = artifact_files(tmp_path)
    month = tmp_path / "2026-11"  # where check writes them
    (month / "20261127T110001Z-aaaa01.json").write_text('{"schema_version": 1, "checked')
    (month / "20261127T110002Z-aaaa02.json").write_text("not json at all")
    (month / "20261127T110003Z-aaaa03.json").write_text('["a list"]')
    (month / "20261127T110004Z-aaaa04.json").write_text(
        good[0].read_text().replace('"schema_version":1', '"schema_version":2')
    )
    future = good[-1].read_text().replace("2026-11-27T12:00:00.000Z", "2026-11-27T13:00:00.000Z")
    (month / "20261127T110005Z-aaaa05.json").write_text(future)
    (month / "20261127T110006Z-aaaa06.json").write_text('{"schema_version": 1}')
    naive = good[1].read_text().replace('.000Z"', '.000"')  # no time zone: not guessed
    (month / "20261127T110007Z-aaaa07.json").write_text(naive)
    (tmp_path / "notes.txt").write_text("not an artifact name: ignored, not counted")
    code, out, err = run(runner, tmp_path, "--window", "24h", "--at", AT, "--format", "json")
    data = json.loads(out)
    assert data["artifacts"]["read"] == 288
    assert data["artifacts"]["skipped"] == 7
    lines = err.splitlines()
    assert len(lines) == 7
    assert lines[0].startswith("chatwoot-health: skipped 20261127T110001Z-aaaa01.json: ")
    assert "unknown schema_version 2" in lines[3]
    assert "lies after 2026-11-27T12:00:00.000Z" in lines[4]
    assert "not a valid artifact" in lines[5]
    assert "not a valid artifact: checked_at: Input should have timezone info" in lines[6]
    assert data["uptime"]["percent"] == 100.0
    assert code == 0


def test_output_file_and_default_now(tmp_path: Path, runner: CliRunner) -> None:
    day_of_runs(tmp_path / "a")
    target = tmp_path / "out" / "report.json"
    with freeze_time("2026-11-27T12:01:00Z"):
        code, out, err = run(
            runner, tmp_path / "a", "--window", "24h", "--format", "json", "--output", str(target)
        )
    assert out == ""
    assert err == ""  # the path is said on a terminal only: cron mails nothing on success
    data = json.loads(target.read_text())
    assert data["generated_at"] == "2026-11-27T12:01:00.000Z"
    assert code == 0


def test_dst_week_report(tmp_path: Path, runner: CliRunner) -> None:
    """The week of 2026-03-08 (DST starts in New York): hours are UTC, windows exact."""
    from tests.factory import utc

    end = utc(2026, 3, 10, 12)
    start = end - 7 * 24 * H
    write_all(tmp_path, [artifact(start + 5 * M * (i + 1)) for i in range(7 * 288)])
    code, out, _ = run(
        runner, tmp_path, "--window", "7d", "--at", "2026-03-10T12:00:00Z", "--format", "json"
    )
    data = json.loads(out)
    assert data["uptime"]["expected_checks"] == 2016  # 7 × 24 × 12: UTC days have 24 hours
    assert data["uptime"]["coverage_percent"] == 100.0
    assert len(data["timeline"]) == 168
    assert code == 0


def test_output_files_are_readable_by_others(tmp_path: Path, runner: CliRunner) -> None:
    """A web server running as another user must be able to read the page and the artifacts."""
    import os
    import stat

    day_of_runs(tmp_path / "a")
    target = tmp_path / "page.json"
    old = os.umask(0o022)
    try:
        run(runner, tmp_path / "a", "--at", AT, "--format", "json", "--output", str(target))
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    artifact_file = artifact_files(tmp_path / "a")[0]
    assert stat.S_IMODE(artifact_file.stat().st_mode) & 0o044 == 0o044


def test_a_run_in_the_same_second_just_after_at_is_not_a_bad_file(
    tmp_path: Path, runner: CliRunner
) -> None:
    from tests.factory import utc

    late = utc(2026, 11, 27, 12, 0) + timedelta(milliseconds=400)
    write_all(tmp_path, [artifact(T0 - 5 * M), artifact(late)])
    _code, out, err = run(runner, tmp_path, "--window", "1h", "--at", AT, "--format", "json")
    data = json.loads(out)
    assert data["artifacts"]["read"] == 1 and data["artifacts"]["skipped"] == 0
    assert err == ""


def test_an_unreadable_directory_is_one_line(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    real_listdir = os.listdir

    def refuse(path: object) -> list[str]:
        if str(path) == str(tmp_path):  # as root, permission bits would not stop us
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "listdir", refuse)
    code, out, err = run(runner, tmp_path, "--at", AT)
    assert (code, out) == (3, "")
    assert err == (
        f"chatwoot-health: cannot read the artifacts directory {tmp_path}: Permission denied\n"
    )
