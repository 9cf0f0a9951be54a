"""The run index: a cache that never changes a number.

Every report here is compared byte for byte with the same report read from the files alone (the
index disabled): warm, cold, partly filled, after prune, after a file is rewritten under its name,
with the database truncated, garbage or of a newer version, in a directory the user cannot write,
and while check, report and prune run at once in separate processes.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from chatwoot_health.artifacts import index as run_index
from chatwoot_health.artifacts import store
from chatwoot_health.artifacts.fast import ArtifactCore, DetailedRunRecord, IndexedRun
from chatwoot_health.artifacts.index import RunIndex
from chatwoot_health.artifacts.store import write_artifact
from chatwoot_health.cli import main
from chatwoot_health.demo import Scenario, make_artifact
from chatwoot_health.metrics.channels import merge_buckets
from chatwoot_health.sqlite import DB_NAME
from chatwoot_health.sqlite import DB_NAME as DEFAULT_NAME
from chatwoot_health.timeutil import parse_stamp
from tests.factory import artifact_files

REPO = Path(__file__).resolve().parent.parent
END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
AT = "2026-11-27T12:00:00Z"
NOBODY = 65534


@pytest.fixture(scope="module")
def history() -> Iterator[Path]:
    """Ten days of the demo's runs (its outage and latency spike included): 2,880 files."""
    directory = Path(tempfile.mkdtemp(prefix="index-history-"))
    scenario, rng = Scenario(END), random.Random(7)
    t = END - timedelta(days=10)
    while t < END:
        t += timedelta(minutes=5)
        write_artifact(directory, make_artifact(t, scenario, rng, 7), durable=False)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def artifacts(history: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "artifacts"
    shutil.copytree(history, directory)
    return directory


def report(runner: CliRunner, directory: Path, *args: str) -> tuple[str, str]:
    result = runner.invoke(
        main, ["report", "--artifacts-dir", str(directory), "--at", AT, "--format", "json", *args]
    )
    assert result.exit_code in (0, 1, 2), result.output
    return result.stdout, result.stderr


def files_only(
    runner: CliRunner, directory: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[str, str]:
    """The report read from the files alone: its stdout and stderr (the alerts' lines)."""
    with monkeypatch.context() as patch:
        patch.setattr(RunIndex, "open", classmethod(lambda cls, *a, **k: None))
        return report(runner, directory, *args)


def rows(directory: Path) -> int:
    with sqlite3.connect(directory / DB_NAME) as db:
        return int(db.execute("SELECT count(*) FROM index_runs").fetchone()[0])


def index_cli(runner: CliRunner, directory: Path, flag: str) -> tuple[int, str]:
    result = runner.invoke(main, ["index", flag, "--artifacts-dir", str(directory)])
    return result.exit_code, result.stdout + result.stderr


def test_the_index_shares_the_notification_state_file() -> None:
    assert DB_NAME == DEFAULT_NAME


def test_warm_cold_and_index_less_reports_are_byte_identical(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for window in ((), ("--window", "30d"), ("--window", "24h")):
        expected = files_only(runner, artifacts, monkeypatch, *window)
        for _ in ("cold", "warm"):
            assert report(runner, artifacts, *window) == expected
    assert rows(artifacts) == len(artifact_files(artifacts))
    assert index_cli(runner, artifacts, "--check")[0] == 0


def test_a_partly_filled_index_adds_the_newest_runs_first(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "ADD_PER_RUN", 1000)
    expected = files_only(runner, artifacts, monkeypatch)
    names = [path.name for path in artifact_files(artifacts)]
    filled = []
    for _ in range(4):
        assert report(runner, artifacts) == expected
        filled.append(rows(artifacts))
        if len(filled) == 1:
            with sqlite3.connect(artifacts / DB_NAME) as db:
                indexed = sorted(name for (name,) in db.execute("SELECT name FROM index_runs"))
            assert indexed == names[-1000:]
    assert filled == [1000, 2000, len(names), len(names)]


def test_prune_removes_the_rows_of_the_files_it_deletes(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    report(runner, artifacts)
    result = runner.invoke(main, ["prune", "--older-than", "5d", "--artifacts-dir", str(artifacts)])
    assert result.exit_code == 0, result.output
    left = len(artifact_files(artifacts))
    assert rows(artifacts) == left < 2880
    expected = files_only(runner, artifacts, monkeypatch)
    assert report(runner, artifacts) == expected
    assert index_cli(runner, artifacts, "--check")[0] == 0


def test_prune_removes_the_rows_of_files_deleted_by_hand(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file deleted by hand outside every report's window: its row goes with the next prune,
    even one that deletes nothing."""
    assert index_cli(runner, artifacts, "--rebuild")[0] == 0
    oldest = artifact_files(artifacts)[:3]
    for path in oldest:
        path.unlink()
    report(runner, artifacts, "--window", "24h")  # its window is far from them
    assert rows(artifacts) == 2880
    result = runner.invoke(
        main, ["prune", "--older-than", "90d", "--artifacts-dir", str(artifacts)]
    )
    assert result.exit_code == 0, result.output
    assert rows(artifacts) == 2877
    assert index_cli(runner, artifacts, "--check")[0] == 0
    assert report(runner, artifacts) == files_only(runner, artifacts, monkeypatch)


def test_a_file_rewritten_under_its_name_is_read_again(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, _ = report(runner, artifacts)
    latest = artifact_files(artifacts)[-1]
    text = latest.read_text()
    stat = latest.stat()
    # Same size, same modification time: only the inode tells (a file replaced by a rename).
    # The latest run's open conversations are the report's, so the report changes.
    at = text.index('"open":') + len('"open":')
    digit = text[at]
    changed = text[:at] + ("8" if digit == "9" else str(int(digit) + 1)) + text[at + 1 :]
    assert len(changed) == len(text) and changed != text
    replacement = latest.with_name(".tmp-replacement")
    replacement.write_text(changed)
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    replacement.replace(latest)
    expected = files_only(runner, artifacts, monkeypatch)
    assert expected[0] != before
    assert report(runner, artifacts) == expected
    # Rewritten in place, with another size.
    latest.write_text(text.replace('"duration_ms":', '"duration_ms": ', 1))
    expected = files_only(runner, artifacts, monkeypatch)
    assert report(runner, artifacts) == expected
    assert index_cli(runner, artifacts, "--check")[0] == 0


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_database_is_moved_aside_with_one_line(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    expected = files_only(runner, artifacts, monkeypatch)
    report(runner, artifacts)
    db = artifacts / DB_NAME
    data = db.read_bytes()
    db.write_bytes(
        {"truncated": data[: len(data) // 3], "garbage": b"x" * 5000, "empty": b""}[damage]
    )
    out, err = report(runner, artifacts)
    assert out == expected[0]
    if damage == "empty":  # an empty file is a new database to SQLite
        assert err == expected[1]
    else:
        line, rest = err.split("\n", 1)
        assert line.startswith(f"chatwoot-health: run index: {db} is not a readable database")
        assert rest == expected[1]
        assert list(artifacts.glob(f"{DB_NAME}.corrupt-*"))
    assert report(runner, artifacts) == expected


@pytest.mark.parametrize("column", ["run", "head"])
def test_a_damaged_row_is_read_from_its_file(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, column: str
) -> None:
    expected = files_only(runner, artifacts, monkeypatch)
    assert index_cli(runner, artifacts, "--rebuild")[0] == 0
    with sqlite3.connect(artifacts / DB_NAME) as db:
        # four bytes of the record or of its head: the row's CRC catches either
        db.execute(
            f"UPDATE index_runs SET {column} = "
            f"substr({column}, 1, 4) || x'00ff00ff' || substr({column}, 9)"
        )
    assert index_cli(runner, artifacts, "--check")[0] == 1
    assert report(runner, artifacts) == expected


def test_a_newer_index_is_left_alone_with_one_line(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = files_only(runner, artifacts, monkeypatch)
    report(runner, artifacts)
    with sqlite3.connect(artifacts / DB_NAME) as db:
        db.execute("UPDATE index_meta SET value = 99 WHERE key = 'version'")
        db.execute("DELETE FROM index_runs")
    out, err = report(runner, artifacts)
    assert out == expected[0]
    assert err == (
        f"chatwoot-health: run index: {artifacts / DB_NAME} was written by a newer "
        f"chatwoot-health (index version 99, this one knows {run_index.INDEX_VERSION}); "
        "reading the files\n" + expected[1]
    )
    assert rows(artifacts) == 0


def test_another_format_is_rebuilt_and_the_notification_tables_are_kept(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = files_only(runner, artifacts, monkeypatch)
    db = artifacts / DB_NAME
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE notify_runs (instance TEXT PRIMARY KEY, last_run_at TEXT)")
        con.execute("INSERT INTO notify_runs VALUES ('x', 'y')")
        con.execute("PRAGMA user_version = 1")
        con.execute("CREATE TABLE index_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        con.execute("INSERT INTO index_meta VALUES ('version', 1), ('layout', 'older')")
    out, err = report(runner, artifacts)
    assert out == expected[0]
    notice = f"chatwoot-health: run index: {db}: an index of another format, rebuilt from the files"
    assert err == notice + "\n" + expected[1]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT * FROM notify_runs").fetchall() == [("x", "y")]
        assert con.execute("PRAGMA user_version").fetchone() == (1,)


def test_a_locked_database_costs_time_never_an_error(
    artifacts: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = files_only(runner, artifacts, monkeypatch)
    report(runner, artifacts)
    monkeypatch.setattr(run_index, "BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(artifacts / DB_NAME, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        artifact_files(artifacts)[-1].touch()  # one to re-add
        assert report(runner, artifacts) == expected
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_index_check_and_rebuild(artifacts: Path, runner: CliRunner) -> None:
    code, out = index_cli(runner, artifacts, "--check")
    assert (code, out) == (1, f"no run index for {artifacts} yet: the next report makes it\n")
    code, out = index_cli(runner, artifacts, "--rebuild")
    assert (code, out) == (0, f"indexed 2880 run(s) of 2880 file(s) in {artifacts / DB_NAME}\n")
    code, out = index_cli(runner, artifacts, "--check")
    assert (code, out) == (0, f"2880 row(s), 2880 file(s) in {artifacts / DB_NAME}: consistent\n")
    files = artifact_files(artifacts)
    names = [p.name for p in files]
    files[0].unlink()
    files[1].write_text("{}")
    (artifacts / "2026-11" / "20261127T120000Z-0000feed.json").write_bytes(files[2].read_bytes())
    code, out = index_cli(runner, artifacts, "--check")
    assert code == 1
    assert out.splitlines() == [
        f"changed since indexed: {names[1]}",
        "not indexed: 20261127T120000Z-0000feed.json",
        f"row without a file: {names[0]}",
        f"2880 row(s), 2880 file(s) in {artifacts / DB_NAME}: 3 difference(s)",
    ]
    code, out = index_cli(runner, artifacts, "--rebuild")
    assert (code, out) == (
        0,
        f"indexed 2879 run(s) of 2880 file(s) in {artifacts / DB_NAME}; 1 not valid artifacts\n",
    )
    assert index_cli(runner, artifacts, "--check")[0] == 0
    result = runner.invoke(main, ["index", "--artifacts-dir", str(artifacts)])
    assert result.exit_code == 3
    assert result.stderr == "chatwoot-health: give one of --rebuild or --check\n"


def test_check_adds_its_run_once_the_index_exists(artifacts: Path, runner: CliRunner) -> None:
    scenario, rng = Scenario(END), random.Random(1)
    path = write_artifact(artifacts, make_artifact(END, scenario, rng, 1))
    store.index_written(artifacts, path)
    assert not (artifacts / DB_NAME).exists()  # check alone never makes the database
    index_cli(runner, artifacts, "--rebuild")
    path = write_artifact(artifacts, make_artifact(END + timedelta(minutes=5), scenario, rng, 1))
    store.index_written(artifacts, path)
    assert rows(artifacts) == 2882
    assert index_cli(runner, artifacts, "--check")[0] == 0


# ------------------------------------------------------------------------------- processes


def cli(*args: str, user: int | None = None, warm_up: Path | None = None) -> list[str]:
    if user is None:
        return [sys.executable, "-m", "chatwoot_health", *args]
    return [sys.executable, "-c", _AS_USER, str(user), str(warm_up), *args]


_AS_USER = """
import contextlib, io, os, sys
user, warm_up = int(sys.argv[1]), sys.argv[2]
from chatwoot_health.cli import main, run
# The interpreter's own files may be root's only: import everything the command needs by
# running it once, as root, on a one-file copy, then drop to the user.
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main([*sys.argv[3:-1], warm_up], standalone_mode=False)
os.setgid(user); os.setuid(user)
sys.argv = ["chatwoot-health", *sys.argv[3:]]
run()
"""


def run_report(directory: Path, user: int | None = None, **env: str) -> tuple[str, str]:
    done = subprocess.run(
        cli(
            *("report", "--at", AT, "--format", "json", "--artifacts-dir", str(directory)),
            user=user,
            warm_up=directory.parent / "warm-up",
        ),
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    return done.stdout, untroubled(done.stderr)


def untroubled(stderr: str) -> str:
    """A child's stderr, checked to say nothing of the index or a lock (the report's own lines,
    such as the alerts, are its business)."""
    for word in ("run index", "locked", "Traceback", "database"):
        assert word not in stderr, stderr
    return ""


@pytest.fixture
def shared_dir(history: Path) -> Iterator[Path]:
    """A copy of the history another user can read but not write (tmp_path is root's only)."""
    base = Path(tempfile.mkdtemp(prefix="index-ro-"))
    base.chmod(0o755)
    directory = base / "artifacts"
    shutil.copytree(history, directory)
    directory.chmod(0o755)
    (base / "warm-up").mkdir()
    shutil.copy(artifact_files(history)[-1], base / "warm-up")
    yield directory
    shutil.rmtree(base)


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to 'nobody'; as a user chmod suffices")
def test_a_read_only_directory_uses_the_users_cache_directory(
    shared_dir: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = files_only(runner, shared_dir, monkeypatch)
    cache = shared_dir.parent / "cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, NOBODY, NOBODY)
    for _ in ("cold", "warm"):
        assert run_report(shared_dir, NOBODY, XDG_CACHE_HOME=str(cache))[0] == expected[0]
    (made,) = (cache / "chatwoot-health").iterdir()
    assert made.name.startswith("index-") and made.name.endswith(".db")
    assert not (shared_dir / DB_NAME).exists()
    # No cache directory either (a web server's user without a home): no index, same report.
    assert run_report(shared_dir, NOBODY, XDG_CACHE_HOME="", HOME="/nonexistent")[0] == expected[0]
    # The database beside the artifacts exists (root's) but nobody may not write it.
    report(runner, shared_dir)
    assert run_report(shared_dir, NOBODY, XDG_CACHE_HOME=str(cache))[0] == expected[0]


_CHECKER = """
import random, sys
from datetime import datetime, timedelta
from pathlib import Path
from chatwoot_health.artifacts.store import index_written, write_artifact
from chatwoot_health.demo import Scenario, make_artifact
from chatwoot_health.metrics.channels import merge_buckets
directory, end = Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
rng = random.Random(3)
for i in range(40):  # runs just before --at, in the report's window
    at = end - timedelta(seconds=40 - i)
    index_written(directory, write_artifact(directory, make_artifact(at, Scenario(end), rng, 3)))
"""


def test_check_report_and_prune_at_once(history: Path, tmp_path: Path) -> None:
    """Check writes and indexes 40 runs, three reports read and fill the index, and prune
    deletes old files and their rows, all at once: no error, no "database is locked", and
    afterwards the index holds no row of a deleted file and the report is the files' own."""
    directory = tmp_path / "artifacts"
    shutil.copytree(history, directory)
    (directory / "2025-11").mkdir()
    for number, path in enumerate(artifact_files(directory)[:300]):
        # A year back, by name: prune deletes these (and --rebuild indexes them first).
        name = f"20251101T{number // 60:02d}{number % 60:02d}00Z-01d{number:05d}.json"
        shutil.copy(path, directory / "2025-11" / name)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rebuild = cli("index", "--rebuild", "--artifacts-dir", str(directory))
    subprocess.run(rebuild, env=env, check=True, capture_output=True)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CHECKER, str(directory), END.isoformat()],
            env=env, stderr=subprocess.PIPE, text=True,
        ),
        *(
            subprocess.Popen(
                cli("report", "--artifacts-dir", str(directory), "--at", AT, "--format", "json"),
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(3)
        ),
        subprocess.Popen(
            cli("prune", "--older-than", "300d", "--artifacts-dir", str(directory)),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
    ]  # fmt: skip
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode in (0, 1, 2), err
        assert untroubled(err) == ""
    names = {p.name for p in artifact_files(directory)}
    assert len(names) == 2880 + 40
    assert not (directory / "2025-11").exists()  # the month prune emptied
    with sqlite3.connect(directory / DB_NAME) as db:
        indexed = {name for (name,) in db.execute("SELECT name FROM index_runs")}
    assert indexed <= names  # prune's rows are gone
    assert len(indexed) >= 2880  # check's own runs: added by check, or by a report
    out, err = run_report(directory)
    assert err == ""
    indexless = tmp_path / "copy"
    shutil.copytree(directory, indexless, ignore=shutil.ignore_patterns(f"{DB_NAME}*"))
    expected, _ = run_report(indexless)
    assert out == expected.replace(str(indexless), str(directory))


def test_report_never_loads_the_http_stack(artifacts: Path) -> None:
    """A report reads files and the index: the probes, httpx and httpcore (~0.1 s of imports)
    stay unloaded unless Supabase is configured (its client speaks HTTP); so does the artifact's
    pydantic model (~20 ms), which only a file the fast reader rejects needs."""
    script = (
        "import sys\n"
        "from chatwoot_health.cli import main\n"
        "try:\n"
        f"    main(['report', '--artifacts-dir', {str(artifacts)!r}, '--at', {AT!r},\n"
        "          '--window', '30d', '--format', 'json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "never = ('httpx', 'httpcore', 'h11', 'h2', 'chatwoot_health.probes',\n"
        "         'chatwoot_health.check', 'supabase', 'chatwoot_health.models.artifact')\n"
        "print(sorted(m for m in sys.modules if m.startswith(never)), file=sys.stderr)\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(artifacts), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def test_runs_outside_the_channel_horizon_come_from_the_head(
    artifacts: Path, runner: CliRunner
) -> None:
    """Outside the channel horizon a run is built from its row's head; every field a section
    may ask for is the file's, the rest inflated from the row on first use."""
    assert index_cli(runner, artifacts, "--rebuild")[0] == 0
    start, detail_since = END - timedelta(days=10), END - timedelta(days=7)
    warm = store.read_window(artifacts, start, END, detail_since=detail_since)
    cold = store.read_window(artifacts, start, END, detail_since=detail_since, index=False)
    assert len(warm.artifacts) == len(cold.artifacts) == 2880
    heads = [run for run in warm.artifacts if isinstance(run, IndexedRun)]
    # inside the channel horizon, a run's record (and its buckets) is inflated only when no
    # later run holds the same bucket keys: about the last run of each hour
    full = [run for run in warm.artifacts if isinstance(run, DetailedRunRecord)]
    assert len(heads) + len(full) == 2880
    assert 7 * 24 <= len(full) <= 7 * 24 + 3
    by_time = {run.checked_at: run for run in cold.artifacts}
    fields = ("checked_at", "status", "instance", "location", "liveness", "latencies")
    lazy = ("checks", "conversations", "agents", "reprobes", "tool_version", "duration_ms")
    for run in heads:
        file = by_time[run.checked_at]
        assert [getattr(run, f) for f in fields] == [getattr(file, f) for f in fields]
        assert run._record is None  # nothing inflated yet
        assert run.failure_span == file.failure_span
        assert [getattr(run, f) for f in lazy] == [getattr(file, f) for f in lazy]
        assert run.check("rails_health") == file.check("rails_health")
    assert any(run.failure_span is not None for run in heads)  # the demo's outage is there


@pytest.mark.parametrize("freeze", [False, True])
def test_only_a_process_that_exits_freezes_what_it_read(artifacts: Path, freeze: bool) -> None:
    """gc.freeze() after reading is right for the command line and a leak for serve, which
    reads with the default."""
    gc.unfreeze()
    store.read_window(artifacts, END - timedelta(days=1), END, freeze=freeze)
    assert (gc.get_freeze_count() > 0) is freeze
    gc.unfreeze()


def test_runs_left_without_buckets_never_change_the_merge(
    tmp_path: Path, runner: CliRunner
) -> None:
    """A run's buckets are left out only when a later run holds exactly the same keys: a later
    run lacking an inbox, or one holding another hour, keeps the earlier run's buckets."""
    directory = tmp_path / "artifacts"
    scenario, rng = Scenario(END), random.Random(11)
    t, count = END - timedelta(days=2), 0
    while t < END:
        t += timedelta(minutes=5)
        run = make_artifact(t, scenario, rng, 11)
        count += 1
        if run.inbox_activity and count % 3 == 0:  # every third run lacks an inbox
            dropped = run.inbox_activity[0].inbox_id
            kept = [b for b in run.inbox_activity if b.inbox_id != dropped]
            run = run.model_copy(update={"inbox_activity": kept})
        elif run.inbox_activity and count % 7 == 0:  # and some carry one hour only
            last = max(b.hour for b in run.inbox_activity)
            kept = [b for b in run.inbox_activity if b.hour == last]
            run = run.model_copy(update={"inbox_activity": kept})
        write_artifact(directory, run, durable=False)
    assert index_cli(runner, directory, "--rebuild")[0] == 0
    start = END - timedelta(days=2)
    warm = store.read_window(directory, start, END, detail_since=start)
    cold = store.read_window(directory, start, END, detail_since=start, index=False)
    full = [run for run in warm.artifacts if isinstance(run, DetailedRunRecord)]
    assert 48 < len(full) < count  # some left out, more than one an hour kept

    def merged(runs: list[ArtifactCore]) -> dict[tuple[int, datetime], object]:
        return {key: msgspec.to_builtins(b) for key, b in merge_buckets(runs).items()}

    assert merged(warm.artifacts) == merged(cold.artifacts)
    assert len(merged(cold.artifacts)) > 0


def test_names_become_the_same_instants_at_c_speed() -> None:
    """The listing's fast reading of a name's stamp is parse_stamp's, error for error."""
    rng = random.Random(3)
    stamps = ["20261127T240000Z", "20261127T235960Z", "20260229T000000Z", "20240229T000000Z"]
    stamps += ["00000101T000000Z", "19691231T235959Z", "90000101T000000Z", "90000101T000001Z"]
    stamps += ["20261300T000000Z", "20261127T009900Z", "2026112٧T000000Z"]  # a non-ASCII digit
    for _ in range(20000):
        year = rng.choice([0, 1969, 1970, 2024, 2026, 8999, 9000, 9001])
        stamps.append(
            f"{year:04d}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}T"
            f"{rng.randint(0, 25):02d}{rng.randint(0, 61):02d}{rng.randint(0, 61):02d}Z"
        )

    def outcome(parse: Callable[[str], datetime], stamp: str) -> object:
        try:
            moment = parse(stamp)
        except ValueError as exc:
            return str(exc)
        return moment, moment.tzinfo

    for stamp in stamps:
        assert outcome(store._stamp, stamp) == outcome(parse_stamp, stamp), stamp
