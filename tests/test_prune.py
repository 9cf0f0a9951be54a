"""``prune``: delete artifact files older than a cutoff, by their name, and nothing else."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatwoot_health.cli import main
from chatwoot_health.prune import prune
from chatwoot_health.timeutil import compact_stamp

NOW = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)

#: Files that are not artifacts, even though some of them look old: prune never touches them.
STRANGERS = (
    "notes.json",
    "README.md",
    "20200101T000000Z-abcd.json.bak",
    "20200101T000000Z.json",
    "20200101T000000Z-ABCD.json",
    "backup-20200101T000000Z-abcd.json",
    ".tmp-k3j2h1.partial",
)


def _artifact(directory: Path, moment: datetime, suffix: str) -> Path:
    """A file named like an artifact, in its month's directory as ``check`` writes it."""
    month = directory / f"{moment:%Y-%m}"
    month.mkdir(parents=True, exist_ok=True)
    path = month / f"{compact_stamp(moment)}-{suffix}.json"
    path.write_text('{"schema_version": 1}\n')
    return path


def _populate(directory: Path, now: datetime) -> tuple[list[Path], list[Path]]:
    directory.mkdir(parents=True, exist_ok=True)
    old = [
        _artifact(directory, now - timedelta(days=400), "a1b2c3d4"),
        _artifact(directory, now - timedelta(days=91), "e5f6a7b8"),
    ]
    young = [
        _artifact(directory, now - timedelta(days=89), "c9d0e1f2"),
        _artifact(directory, now - timedelta(minutes=5), "a3b4c5d6"),
    ]
    for name in STRANGERS:
        (directory / name).write_text("not an artifact\n")
    (directory / "20200101T000000Z-dir0.json").mkdir()  # a directory named like an artifact
    (directory / "2020-01").mkdir()
    (directory / "2020-01" / "20200101T000000Z-dir1.json").mkdir()  # and one in its month
    os.utime(young[0], (0, 0))  # an ancient mtime does not make a young artifact old
    return old, young


def _names(directory: Path) -> set[str]:
    """Every file under ``directory`` (not the month directories themselves), relative to it."""
    return {
        str(path.relative_to(directory))
        for path in directory.rglob("*")
        if not (path.is_dir() and path.parent == directory and path.name[4:5] == "-")
    }


def _gone(directory: Path, paths: list[Path]) -> set[str]:
    return {str(path.relative_to(directory)) for path in paths}


def test_prune_deletes_only_old_artifact_files(tmp_path: Path) -> None:
    old, _young = _populate(tmp_path, NOW)
    before = _names(tmp_path)
    result = prune(tmp_path, timedelta(days=90), NOW, dry_run=False)
    assert (sorted(result.matched), result.deleted, result.kept) == (sorted(old), 2, 2)
    assert _names(tmp_path) == before - _gone(tmp_path, old)
    # The month emptied before the cutoff's goes; the cutoff's own (August) stays, emptied too.
    assert not old[0].parent.exists() and old[1].parent.exists()


def test_the_cutoff_itself_is_kept(tmp_path: Path) -> None:
    cutoff = NOW - timedelta(days=90)
    at_cutoff = _artifact(tmp_path, cutoff, "aaaa1111")
    just_before = _artifact(tmp_path, cutoff - timedelta(seconds=1), "bbbb2222")
    result = prune(tmp_path, timedelta(days=90), NOW, dry_run=False)
    assert (result.matched, result.deleted, result.kept) == ([just_before], 1, 1)
    assert _names(tmp_path) == _gone(tmp_path, [at_cutoff])


def test_dry_run_deletes_nothing(tmp_path: Path) -> None:
    old, _ = _populate(tmp_path, NOW)
    before = _names(tmp_path)
    result = prune(tmp_path, timedelta(days=90), NOW, dry_run=True)
    assert (sorted(result.matched), result.deleted, result.kept) == (sorted(old), 0, 2)
    assert _names(tmp_path) == before


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    from chatwoot_health.artifacts.store import DirectoryError

    with pytest.raises(DirectoryError, match="does not exist"):
        prune(tmp_path / "nothing-here", timedelta(days=90), NOW, dry_run=False)


def test_cli_prune(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "artifacts"
    old, _young = _populate(directory, datetime.now(UTC))
    before = _names(directory)
    result = runner.invoke(
        main, ["prune", "--older-than", "90d", "--artifacts-dir", str(directory)],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0
    assert result.stdout == f"deleted 2 artifact(s) older than 90d in {directory}; 2 kept\n"
    assert _names(directory) == before - _gone(directory, old)


def test_cli_prune_dry_run(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "artifacts"
    _populate(directory, datetime.now(UTC))
    before = _names(directory)
    monkeypatch.setenv("CHATWOOT_HEALTH_ARTIFACTS_DIR", str(directory))
    result = runner.invoke(main, ["prune", "--older-than", "90d", "--dry-run"],
                           catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0
    assert result.stdout == f"would delete 2 artifact(s) older than 90d in {directory}; 2 kept\n"
    assert _names(directory) == before


def test_cli_prune_rejects_a_bad_duration(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        main, ["prune", "--older-than", "90", "--artifacts-dir", str(tmp_path)],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 3
    assert result.stderr == (
        "chatwoot-health: Invalid value for '--older-than': '90' is not a duration: use a number "
        "and a unit, e.g. 90s, 5m, 24h, 7d or 2w (see chatwoot-health prune --help)\n"
    )


def test_cli_prune_needs_older_than(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["prune"], catch_exceptions=False)
    assert result.exit_code == 3
    assert result.stderr == (
        "chatwoot-health: Missing option '--older-than' (see chatwoot-health prune --help)\n"
    )


def test_a_file_that_cannot_be_deleted_is_reported_not_a_traceback(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatwoot_health.artifacts.store import artifact_name

    directory = tmp_path / "artifacts"
    directory.mkdir()
    old = directory / artifact_name(datetime(2020, 1, 1, tzinfo=UTC))
    old.write_text("{}")
    real_unlink = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self == old:  # as root the permission bits would not stop us: refuse by hand
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    result = runner.invoke(
        main,
        ["prune", "--older-than", "90d", "--artifacts-dir", str(directory)],
        catch_exceptions=False,
    )
    assert result.exit_code == 3
    assert result.stdout == f"deleted 0 artifact(s) older than 90d in {directory}; 0 kept\n"
    assert result.stderr == f"chatwoot-health: cannot delete {old.name}: Permission denied\n"
    assert old.exists()
