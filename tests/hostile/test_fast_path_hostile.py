"""Hostile tests of ``check``'s fast alert path (issue #10): the digest of the channels' week in
``.chatwoot-health.db`` (``artifacts/recent.py``) and the short read (``check.recent_digest``,
``Recent.suffices``). The guarantee under attack: the fast path gives exactly the alerts the full
read would, and the database is a cache, never of correctness.

Two kinds of test. In process, over a generated history (tests/test_check_fast_path.py's): the
fast path's alerts against the full read's after the files are attacked — replaced under the
same name, hostile files with an artifact's name, a prune, a week with a DST change. As real
processes (``chatwoot-health check`` against the Chatwoot stand-in, a real webhook receiver and
SMTP server, the outage timeline's shortened schedule): the database damaged, replaced by a
directory, locked by another process, five checks at once on a fresh directory during an outage
— the exit code, no traceback, at most one line about the fault, and the messages people get.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatwoot_health.artifacts.store import write_artifact
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.prune import prune
from chatwoot_health.sqlite import DB_NAME
from tests.factory import write_all
from tests.servers.chatwoot_server import ChatwootServer
from tests.servers.receiver import Receiver
from tests.servers.smtp import SmtpServer
from tests.test_check_fast_path import END, fast, full, history
from tests.test_outage_timeline import TOKEN, Run, Timeline, finish

STATE_LINE = "chatwoot-health: CRITICAL - liveness down: "


# ------------------------------------------------------------------ in process: the same alerts


@pytest.fixture(scope="module")
def day() -> list[Artifact]:
    return history(END, days=1.2)


def same_alerts(directory: Path, run: Artifact, path: Path) -> bool:
    """Whether the fast path judged as the full read (and it was taken)."""
    got, used = fast(directory, run, path)
    assert got == full(directory, run, path), run.checked_at
    return used


def test_a_run_replaced_under_its_name_is_noticed(tmp_path: Path, day: list[Artifact]) -> None:
    """An artifact rewritten in place (restored from a backup, synced again from another host):
    the digest had merged the old content; the full read reads the new one."""
    paths = write_all(tmp_path, day[:-1])
    assert same_alerts(tmp_path, day[-2], paths[-1])  # the digest takes every run in
    # The latest run of an hour replaced by a copy whose previous hour answered in two hours.
    victim = max(i for i, run in enumerate(day[:-1]) if run.checked_at.minute >= 55)
    hour = day[victim].checked_at.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    activity = [
        b.model_copy(update={"avg_first_response_seconds": 7200.0, "first_response_count": 400})
        if b.hour == hour
        else b
        for b in day[victim].inbox_activity or ()
    ]
    replaced = day[victim].model_copy(update={"inbox_activity": activity})
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.replace(write_artifact(other, replaced, durable=False), paths[victim])
    path = write_artifact(tmp_path, day[-1], durable=False)
    same_alerts(tmp_path, day[-1], path)


def test_runs_renamed_deleted_and_the_clock_going_back(tmp_path: Path, day: list[Artifact]) -> None:
    """A run renamed to another artifact name, every run of the last hour deleted, then the
    clock set back an hour and forward again: at each run the fast path judges as the full read.
    """
    paths = write_all(tmp_path, day[:-13])
    same_alerts(tmp_path, day[-14], paths[-1])
    renamed = paths[-30]
    os.replace(renamed, renamed.with_name(renamed.name[:17] + "r3nam3d.json"))
    path = write_artifact(tmp_path, day[-13], durable=False)
    same_alerts(tmp_path, day[-13], path)
    for old in paths[-12:]:
        old.unlink()
    path = write_artifact(tmp_path, day[-12], durable=False)
    same_alerts(tmp_path, day[-12], path)
    # The clock goes back an hour (an NTP step, a restored VM), then returns.
    back = day[-12].model_copy(update={"checked_at": day[-12].checked_at - timedelta(hours=1)})
    path = write_artifact(tmp_path, back, durable=False)
    same_alerts(tmp_path, back, path)
    taken = 0
    for run in day[-11:]:
        path = write_artifact(tmp_path, run, durable=False)
        taken += same_alerts(tmp_path, run, path)
    assert taken, "the fast path was never taken after the clock came back"


@pytest.mark.parametrize(
    "hostile",
    ["garbage", "huge", "fifo", "directory", "symlink-zero", "not-an-object", "wrong-instant"],
)
def test_a_file_with_an_artifacts_name_that_is_not_one(
    tmp_path: Path, day: list[Artifact], hostile: str
) -> None:
    """Whatever the directory holds under an artifact's name, the fast path judges as the full
    read does, bounded in time (a FIFO is never opened for a blocking read)."""
    paths = write_all(tmp_path, day[:-1])
    same_alerts(tmp_path, day[-2], paths[-1])
    moment = day[-1].checked_at - timedelta(minutes=2)
    name = tmp_path / f"{moment.strftime('%Y%m%dT%H%M%SZ')}-h0st11e.json"
    if hostile == "garbage":
        name.write_bytes(os.urandom(4096))
    elif hostile == "huge":
        with name.open("wb") as out:
            out.truncate(200 * 1024 * 1024)  # sparse: 200 MB of zeros
    elif hostile == "fifo":
        os.mkfifo(name)
    elif hostile == "directory":
        name.mkdir()
    elif hostile == "symlink-zero":
        name.symlink_to("/dev/zero")
    elif hostile == "not-an-object":
        name.write_text("[1, 2, 3]")
    else:  # a real run, but its name is not its instant: named two minutes after it was taken
        name.write_bytes(paths[-1].read_bytes())
    path = write_artifact(tmp_path, day[-1], durable=False)
    same_alerts(tmp_path, day[-1], path)


def test_the_digest_after_a_prune(tmp_path: Path) -> None:
    """Prune deletes the files older than the week: the digest drops them, the alerts stay the
    full read's (also for a prune that leaves only the last two days)."""
    runs = history(END, days=8.2)
    paths = write_all(tmp_path, runs[:-2])
    same_alerts(tmp_path, runs[-3], paths[-1])
    prune(tmp_path, timedelta(days=7), runs[-2].checked_at, dry_run=False)
    path = write_artifact(tmp_path, runs[-2], durable=False)
    same_alerts(tmp_path, runs[-2], path)
    prune(tmp_path, timedelta(days=2), runs[-1].checked_at, dry_run=False)
    path = write_artifact(tmp_path, runs[-1], durable=False)
    same_alerts(tmp_path, runs[-1], path)


def test_a_week_with_a_dst_change_in_the_business_time_zone(tmp_path: Path) -> None:
    """New York leaves daylight saving time on 2026-11-01: the week before the Wednesday after
    holds a 25-hour Sunday; the channels' business hours are counted the same by both reads."""
    end = datetime(2026, 11, 4, 21, 0, 3, 250000, tzinfo=UTC)
    runs = history(end, days=7.5)
    paths = write_all(tmp_path, runs[:-6])
    taken = 0
    for run in runs[-6:]:
        path = write_artifact(tmp_path, run, durable=False)
        taken += same_alerts(tmp_path, run, path)
    del paths
    assert taken, "the fast path was never taken"


# ------------------------------------------------------------------ real processes: the database


class Quick(Timeline):
    """The outage timeline's runs, confirmed faster (DOWN_AFTER 1 s, a re-probe every 0.5 s)."""

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "CHATWOOT_HEALTH_RETRY_INTERVAL": "0.5",
            "CHATWOOT_HEALTH_DOWN_AFTER": "1s",
        }


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Timeline]:
    with ChatwootServer(TOKEN) as server, Receiver() as receiver, SmtpServer() as smtp:
        yield Quick(server, receiver, smtp, tmp_path / "artifacts")


def fault_lines(run: Run) -> list[str]:
    """stderr without the run's own state line."""
    return [line for line in run.stderr.splitlines() if not line.startswith(STATE_LINE)]


def assert_contract(run: Run, code: int) -> None:
    assert run.code == code, run.stderr
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert len(fault_lines(run)) <= 1, run.stderr


def assert_notified_once(line: Timeline, run: Run) -> None:
    """The outage's run paged once, and the next run, still down, repeats nothing."""
    assert_contract(run, 2)
    assert line.messages() == ["service_down start"], run.stderr
    again = line.check()
    assert_contract(again, 2)
    assert fault_lines(again) == []
    assert line.messages() == ["service_down start"]


def _corrupt(db: Path) -> None:
    db.write_bytes(b"not a database" * 500)


def _truncated(db: Path) -> None:
    db.write_bytes(db.read_bytes()[:3000])


def _newer_digest(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE recent_meta SET value = '99' WHERE key = 'version'")
        conn.execute("CREATE TABLE IF NOT EXISTS recent_extra (x)")


def _newer_state(db: Path) -> None:
    """A newer chatwoot-health's notification state (a downgrade): moved aside, rebuilt."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")


def _deleted(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


FAULTS: dict[str, Callable[[Path], None]] = {
    "corrupt": _corrupt,
    "truncated": _truncated,
    "newer-digest": _newer_digest,
    "newer-state": _newer_state,
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_damaged_database_during_an_outage_still_notifies_once(
    line: Timeline, fault: str
) -> None:
    """The database deleted, damaged or from another version between two runs, then an outage:
    one service_down, as with the database deleted, and the next run repeats nothing."""
    assert line.check().code == 0  # the digest and the run index hold the run
    FAULTS[fault](line.directory / DB_NAME)
    line.down()
    run = line.check()
    assert_notified_once(line, run)


def test_a_directory_at_the_databases_path(line: Timeline) -> None:
    """Nothing can be recorded: notifications are refused (nothing is sent that cannot be
    recorded, so nothing repeats) and the run index reads the files; each says so once."""
    assert line.check().code == 0
    _deleted(line.directory / DB_NAME)
    (line.directory / DB_NAME).mkdir()
    run = line.check()
    assert run.code == 0 and "Traceback" not in run.stderr
    lines = fault_lines(run)
    assert len(lines) == len(set(lines)) <= 2, run.stderr


def test_a_database_locked_by_another_process(line: Timeline) -> None:
    """Another process holds an exclusive lock on the database for 2 s while the run starts (a
    slow overlapping run, a backup tool): the run waits for it, no line about it, and notifies
    the outage once. (A lock held past the busy timeout: tests/test_notify_state.py.)"""
    assert line.check().code == 0
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('held', flush=True)\n"
            "time.sleep(2)\n"
            "db.execute('COMMIT')\n",
            str(line.directory / DB_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            line.down()
            run = line.check()
        finally:
            holder.kill()
    assert_notified_once(line, run)


def test_five_checks_at_once_on_a_fresh_directory_during_an_outage(line: Timeline) -> None:
    line.down()
    runs = [finish(process) for process in [line.start() for _ in range(5)]]
    for run in runs:
        assert_contract(run, 2)
    assert sum("notified: service_down" in run.stderr for run in runs) == 1
    assert line.messages() == ["service_down start"]
    assert len(line.smtp.messages) == 1
