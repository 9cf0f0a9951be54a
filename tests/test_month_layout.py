"""The artifacts' month directories: where ``check`` writes, what ``report`` lists, what ``prune``
tidies, and the layout before them (every file at the top level), which is still read.

A report never depends on the layout: every report here is compared byte for byte with the same
runs laid out flat, as versions before the month directories wrote them.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatwoot_health.artifacts.store import (
    ArtifactDirectory,
    locate,
    month_of,
    write_artifact,
)
from chatwoot_health.cli import main
from chatwoot_health.prune import prune
from chatwoot_health.sqlite import DB_NAME
from tests.factory import artifact, series, write_all

#: Three days across the turn of a month, in UTC.
START = datetime(2026, 10, 30, 0, 2, tzinfo=UTC)
AT = "2026-11-02T00:00:00Z"
END = datetime(2026, 11, 2, tzinfo=UTC)


def _files(directory: Path) -> list[str]:
    """Every artifact file under ``directory``, as paths relative to it."""
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("2*.json"))


def _flatten(directory: Path) -> None:
    """The layout before the month directories: every file at the top level."""
    for path in list(directory.glob("*/*.json")):
        path.rename(directory / path.name)
        if not any(path.parent.iterdir()):
            path.parent.rmdir()


def _report(runner: CliRunner, directory: Path, *args: str) -> tuple[int, str, str]:
    """The exit code, output and diagnostics, with the directory's own path taken out."""
    result = runner.invoke(
        main,
        ["report", "--artifacts-dir", str(directory), "--at", AT, "--format", "json", *args],
    )
    where = str(directory)
    return (
        result.exit_code,
        result.stdout.replace(where, "DIR"),
        result.stderr.replace(where, "DIR"),
    )


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Three days of runs every 10 minutes across the turn of October, with an outage."""
    directory = tmp_path / "artifacts"
    write_all(directory, series(START, 432, step=timedelta(minutes=10), ms=120.0))
    outage = START + timedelta(days=1, minutes=5)
    write_all(directory, series(outage, 4, step=timedelta(minutes=10), up=False))
    return directory


def test_a_run_is_written_in_the_directory_of_its_utc_month(tmp_path: Path) -> None:
    # 19:30 on 31 October in New York is already November in UTC.
    moment = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    path = write_artifact(tmp_path, artifact(moment), durable=False)
    assert path.parent == tmp_path / "2026-11"
    assert month_of(moment) == "2026-11"
    assert locate(tmp_path, path.name) == path
    before = write_artifact(tmp_path, artifact(moment - timedelta(hours=1)), durable=False)
    assert before.parent == tmp_path / "2026-10"


def test_a_month_path_that_is_not_a_directory_is_a_write_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    from chatwoot_health.artifacts.store import ArtifactWriteError

    (tmp_path / "2026-11").write_text("not a directory\n")
    with pytest.raises(ArtifactWriteError, match="exists and is not a directory"):
        write_artifact(tmp_path, artifact(END), durable=False)
    (tmp_path / "2026-11").unlink()
    os.symlink(tmp_path / "elsewhere", tmp_path / "2026-11")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ArtifactWriteError, match="exists and is not a directory"):
        write_artifact(tmp_path, artifact(END), durable=False)
    assert not any((tmp_path / "elsewhere").iterdir())  # never written through a link


def test_the_report_across_a_month_is_the_same_in_either_layout(
    history: Path, tmp_path: Path, runner: CliRunner
) -> None:
    assert sorted(p.name for p in history.iterdir()) == ["2026-10", "2026-11"]
    flat = tmp_path / "flat"
    shutil.copytree(history, flat)
    _flatten(flat)
    assert not [p for p in flat.iterdir() if p.is_dir()]
    mixed = tmp_path / "mixed"
    shutil.copytree(history, mixed)
    for path in sorted(mixed.glob("2026-11/*.json"))[::2]:  # half of November at the top
        path.rename(mixed / path.name)
    for window in ((), ("--window", "24h"), ("--window", "30d")):
        expected = _report(runner, flat, *window)
        assert expected[0] in (0, 1, 2), expected
        assert ('"checks_down": 4' in expected[1]) == (window != ("--window", "24h"))
        for directory in (history, mixed):
            for _warm in range(2):  # without, then with the run index
                assert _report(runner, directory, *window) == expected


def test_a_report_lists_only_the_months_of_its_window(history: Path) -> None:
    (history / "2025-01").mkdir()
    (history / "2025-01" / "20250101T000000Z-abcd.json").write_text("{}")
    listing = ArtifactDirectory(history)
    names = listing.names(END - timedelta(hours=6), END)
    assert len(names) == 36
    assert sorted(listing._listed) == ["2026-11"]  # neither October nor the year before listed
    assert listing.first_time() == datetime(2025, 1, 1, tzinfo=UTC)


def test_misplaced_entries_are_skipped_and_counted_with_one_line_each(
    history: Path, runner: CliRunner
) -> None:
    november = sorted((history / "2026-11").glob("*.json"))
    # A file in another month's directory than its name's, and a copy left at the top level.
    misplaced = history / "2026-10" / november[-1].name
    november[-1].rename(misplaced)
    shutil.copy(november[-2], history / november[-2].name)
    code, _out, err = _report(runner, history)
    assert code in (0, 1, 2)
    assert "not in its month's directory (2026-10)" in err
    assert f"{november[-2].name}: a copy of 2026-11{os.sep}{november[-2].name}" in err
    assert '"skipped": 2' in _out
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_month_that_cannot_be_listed_is_skipped_with_one_line(
    history: Path, runner: CliRunner, kind: str
) -> None:
    october = history / "2026-10"
    moved = history.parent / "october"
    october.rename(moved)
    if kind == "file":
        october.write_text("not a month\n")
    else:
        october.symlink_to(moved)  # links are never followed
    code, out, err = _report(runner, history)
    assert code in (0, 1, 2)
    assert "2026-10" in err and "Traceback" not in err
    assert '"skipped": 1' in out


def test_prune_moves_the_top_level_files_into_their_months(
    history: Path, runner: CliRunner
) -> None:
    layout = _files(history)
    _flatten(history)
    _code, expected, _ = _report(runner, history)  # also makes the run index
    rows = _index_rows(history)
    assert rows == len(layout)
    dry = prune(history, timedelta(days=90), END, dry_run=True)
    assert len(dry.moved) == len(layout) and _files(history) != layout
    result = runner.invoke(main, ["prune", "--older-than", "90d", "--artifacts-dir", str(history)])
    assert result.exit_code == 0, result.output
    assert f"; {len(layout)} kept; moved {len(layout)} into month directories" in result.stdout
    assert _files(history) == layout
    # A rename keeps each file's identity: the index's rows still stand, none is read again.
    assert _index_rows(history) == rows
    checked = runner.invoke(main, ["index", "--check", "--artifacts-dir", str(history)])
    assert checked.exit_code == 0, checked.output
    assert _report(runner, history)[1] == expected


def test_prune_removes_emptied_months_but_never_the_current_one(
    history: Path, runner: CliRunner
) -> None:
    (history / "2026-12").mkdir()  # empty, and after the cutoff: a check may write there
    result = prune(history, timedelta(days=1), END + timedelta(days=3), dry_run=False)
    assert result.deleted > 0
    assert sorted(p.name for p in history.iterdir() if p.is_dir()) == ["2026-11", "2026-12"]
    assert not list((history / "2026-11").glob("*.json"))  # emptied, but the cutoff's month


def test_prune_never_moves_over_a_file_of_the_same_name(history: Path) -> None:
    first = sorted((history / "2026-11").glob("*.json"))[0]
    (history / first.name).write_text("another file of the same name\n")
    result = prune(history, timedelta(days=90), END, dry_run=False)
    assert result.moved == [] and result.errors == []  # the copy is not read: not moved
    assert (history / first.name).read_text() == "another file of the same name\n"
    assert any(first.name in line and "a copy of" in line for line in result.misnamed)


def test_the_store_outbox_finds_a_file_in_either_layout(history: Path) -> None:
    name = sorted((history / "2026-11").glob("*.json"))[0].name
    assert locate(history, name) == history / "2026-11" / name
    (history / "2026-11" / name).rename(history / name)
    assert locate(history, name) == history / name


def _index_rows(directory: Path) -> int:
    import sqlite3

    with sqlite3.connect(directory / DB_NAME) as db:
        return int(db.execute("SELECT count(*) FROM index_runs").fetchone()[0])


def test_serve_sees_a_run_land_in_a_month_that_already_exists(history: Path) -> None:
    """A run cron writes changes only its month's directory, not the top level: the live
    monitor's version moves all the same, and so does a file pruned from an older month or one
    left at the top level."""
    from chatwoot_health.serve.reports import ReportService
    from tests.serve_support import Clock, serve_settings

    service = ReportService(serve_settings(history), Clock(), lambda: 0)
    top = os.stat(history).st_mtime_ns
    versions = [service.version()]
    assert service.version() == versions[-1]  # nothing moved: nothing listed again
    write_artifact(history, artifact(END + timedelta(minutes=1)), durable=False)
    assert os.stat(history).st_mtime_ns == top  # only 2026-11/ changed
    versions.append(service.version())
    sorted((history / "2026-10").glob("*.json"))[0].unlink()
    versions.append(service.version())
    (history / "20261102T000200Z-0a0b0c0d.json").write_bytes(b"{}")
    versions.append(service.version())
    assert len(set(versions)) == 4


@pytest.mark.parametrize("kind", ["file", "link"])
def test_prune_never_moves_a_file_into_a_month_that_is_not_a_directory(
    history: Path, kind: str
) -> None:
    """A month that is a file, or a link (which no report follows), takes nothing: the file stays
    where it is read, and the one line says why."""
    november = history / "2026-11"
    _flatten(history)
    elsewhere = history.parent / "elsewhere"
    elsewhere.mkdir()
    if kind == "file":
        november.write_text("not a month\n")
    else:
        november.symlink_to(elsewhere)
    at_top = sorted(history.glob("202611*.json"))
    assert at_top
    result = prune(history, timedelta(days=90), END, dry_run=False)
    assert [path for path in result.moved if path.name.startswith("202611")] == []
    assert sorted(history.glob("202611*.json")) == at_top and not list(elsewhere.iterdir())
    [line] = [line for line in result.errors if "2026-11" in line]  # one for all its files
    assert line.startswith(f"cannot move {len(at_top)} file(s) into 2026-11/: ")
    assert "exists and is not a directory" in line
