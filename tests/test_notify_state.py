"""The engine end to end over a real SQLite file and a real HTTP receiver: episode timelines from
the real alert rules, the outbox (at least once, never twice), and the state's faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from chatwoot_health import alerts
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.notify import PROACTIVE, notify, webhook_channel
from chatwoot_health.notify.engine import NotifyOutcome
from chatwoot_health.notify.state import NotifyStore
from tests.factory import T0, artifact
from tests.hostile.support import REPO
from tests.servers.receiver import Receiver

M = timedelta(minutes=1)
INSTANCE = "https://chat.example.com"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def evaluate(history: Sequence[Artifact], now: datetime) -> list[Alert]:
    """The rules a run evaluates (the liveness and queue rules are enough for timelines)."""
    found = [alerts.service_down(history, now), alerts.high_queue(history, now)]
    return [alert for alert in found if alert is not None]


class Timeline:
    """Runs on a schedule: each appends an artifact, evaluates the rules, calls the engine."""

    def __init__(self, db: Path, receiver: Receiver, every: timedelta = 5 * M) -> None:
        self.db, self.receiver, self.every = db, receiver, every
        self.history: list[Artifact] = []
        self.now = T0
        self.outcomes: list[NotifyOutcome] = []

    def run(self, **shape: object) -> NotifyOutcome:
        self.history.append(artifact(self.now, **shape))  # type: ignore[arg-type]
        outcome = notify(
            self.db,
            evaluate(self.history, self.now),
            self.now,
            INSTANCE,
            webhook_channel(self.receiver.url()),
        )
        assert outcome.failures == []
        self.outcomes.append(outcome)
        self.now += self.every
        return outcome

    def ids(self) -> list[str]:
        return [got.json()["id"] for got in self.receiver.received]


def test_an_outage_is_one_start_and_one_resolution(tmp_path: Path, receiver: Receiver) -> None:
    line = Timeline(tmp_path / "state.db", receiver)
    line.run(up=True)
    assert line.run(up=False).started == ["health_check_failed"]  # tracked, not pushed
    escalated = line.run(up=False)  # 5 minutes later: service_down
    assert escalated.started == ["service_down"] and escalated.escalated == ["health_check_failed"]
    line.run(up=False)
    line.run(up=False)
    assert line.run(up=True).resolved == ["service_down"]
    line.run(up=True)
    assert line.ids() == [
        "chatwoot-health/chat.example.com/service_down/2026-11-27T12:05:00Z/start",
        "chatwoot-health/chat.example.com/service_down/2026-11-27T12:05:00Z/resolve",
    ]
    resolution = receiver.received[1].json()["text"]
    assert resolution.startswith(
        "✅ RESOLVED Chatwoot Alert: Service Down — down for 20 minutes (12:05–12:25 UTC)"
    )
    with NotifyStore(tmp_path / "state.db") as store:
        log = store.episodes(T0, line.now)
    assert [(e.alert, e.end_reason) for e in log] == [
        ("health_check_failed", "escalated"),
        ("service_down", "resolved"),
    ]
    assert log[1].duration(line.now) == 20 * M
    assert [(d.kind, d.channel, d.delivered_at is not None) for d in log[1].deliveries] == [
        ("start", "ALERT_WEBHOOK_URL", True),
        ("resolve", "ALERT_WEBHOOK_URL", True),
    ]
    assert log[0].deliveries == ()


def test_high_queue_episode_spans_many_runs(tmp_path: Path, receiver: Receiver) -> None:
    line = Timeline(tmp_path / "state.db", receiver, every=10 * M)
    for _ in range(6):
        line.run(pending=25)
    for _ in range(2):
        line.run(pending=1)
    kinds = [i.rsplit("/", 1)[1] for i in line.ids()]
    assert kinds == ["start", "resolve"] and all("/high_queue/" in i for i in line.ids())


def test_flapping_every_run_never_pages(tmp_path: Path, receiver: Receiver) -> None:
    """Up/down on alternate 5-minute runs: no down streak lasts two runs, so every failure is a
    `health_check_failed` warning (an episode in the log each time) and nothing is pushed."""
    line = Timeline(tmp_path / "state.db", receiver)
    for index in range(12):
        line.run(up=index % 2 == 0)
    assert receiver.received == []
    with NotifyStore(tmp_path / "state.db") as store:
        log = store.episodes(T0, line.now)
    assert [e.alert for e in log] == ["health_check_failed"] * 6


def test_flapping_outages_are_one_episode_each(tmp_path: Path, receiver: Receiver) -> None:
    """Two failed runs, then one good one, three times: three real outages (each ≥ 2 runs over
    ≥ 2 minutes), so three starts and three resolutions — no storm, nothing doubled."""
    line = Timeline(tmp_path / "state.db", receiver)
    for _ in range(3):
        line.run(up=False)
        line.run(up=False)
        line.run(up=True)
    kinds = [i.rsplit("/", 1)[1] for i in line.ids()]
    assert kinds == ["start", "resolve"] * 3
    assert len(set(line.ids())) == 6


# ------------------------------------------------------------------------------------ outbox


def service_down(since: datetime = T0) -> Alert:
    return Alert(
        name="service_down",
        severity=Severity.CRITICAL,
        title="Service Down",
        message="Rails health check failed 2 runs in a row",
        since=since,
    )


def test_a_failing_channel_is_retried_next_run_and_delivered_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "state.db"
    channels = webhook_channel(receiver.url())
    receiver.mode = "500"
    first = notify(db, [service_down()], T0, INSTANCE, channels)
    assert first.failures == [
        "ALERT_WEBHOOK_URL: service_down start not delivered (answered HTTP 500: boom); "
        "retried on the next run"
    ]
    receiver.mode = "ok"
    second = notify(db, [service_down()], T0 + 5 * M, INSTANCE, channels)
    assert second.failures == [] and len(second.delivered) == 1
    notify(db, [service_down()], T0 + 10 * M, INSTANCE, channels)
    assert [got.json()["id"].rsplit("/", 1)[1] for got in receiver.received] == ["start"]
    with NotifyStore(db) as store:
        (episode,) = store.episodes(T0, T0 + 10 * M)
    (delivery,) = episode.deliveries
    assert delivery.attempts == 2 and delivery.last_error is None


def test_a_channel_failing_for_24_hours_is_given_up_with_one_notice(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "state.db"
    channels = webhook_channel(receiver.url())
    receiver.mode = "500"
    notify(db, [service_down()], T0, INSTANCE, channels)
    later = notify(db, [service_down()], T0 + 25 * 60 * M, INSTANCE, channels)
    assert later.failures == []
    (notice,) = later.notices
    assert (
        "dropped: gave up after 1 attempts over 24 h (last error: answered HTTP 500: boom)"
        in notice
    )
    assert notify(db, [service_down()], T0 + 26 * 60 * M, INSTANCE, channels).notices == []


def test_a_crash_between_decided_and_delivered_delivers_on_the_next_run(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The decision is committed with its outbox rows; the process dies before sending (here: the
    send never happens). The next run after the lease sends it, once."""
    from chatwoot_health.notify.engine import _record

    db = tmp_path / "state.db"
    channels = webhook_channel(receiver.url())
    with NotifyStore(db) as store:
        claimed = _record(
            store, [service_down()], T0, INSTANCE, channels, PROACTIVE, None, 10.0, NotifyOutcome()
        )
    assert len(claimed) == 1  # … and then the process dies
    soon = notify(db, [service_down()], T0 + M / 2, INSTANCE, channels)
    assert soon.delivered == []  # still leased to the dead run: an overlapping run stays away
    later = notify(db, [service_down()], T0 + 5 * M, INSTANCE, channels)
    assert len(later.delivered) == 1 and len(receiver.received) == 1


def test_clock_going_backwards_between_runs(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "state.db"
    channels = webhook_channel(receiver.url())
    notify(db, [service_down(T0 + 8 * M)], T0 + 10 * M, INSTANCE, channels)
    same = notify(db, [service_down(T0 + 8 * M)], T0 + 3 * M, INSTANCE, channels)
    assert (same.started, same.resolved) == ([], [])
    assert same.notices == [
        "the clock went back 420 s since the previous run; "
        "times are recorded as of the previous run"
    ]
    cleared = notify(db, [], T0 + 4 * M, INSTANCE, channels)
    assert cleared.resolved == ["service_down"]
    text = receiver.received[-1].json()["text"]
    assert "down for 2 minutes (12:08–12:10 UTC)" in text  # never negative


def test_deleting_the_database_loses_history_never_correctness(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "state.db"
    channels = webhook_channel(receiver.url())
    notify(db, [service_down()], T0, INSTANCE, channels)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    asked: list[bool] = []

    def previous() -> list[Alert]:
        asked.append(True)
        return [service_down()]

    again = notify(db, [service_down()], T0 + 5 * M, INSTANCE, channels, previous_alerts=previous)
    assert asked == [True] and again.started == [] and again.delivered == []
    notify(db, [service_down()], T0 + 10 * M, INSTANCE, channels, previous_alerts=previous)
    assert asked == [True]  # only a new database asks
    notify(db, [], T0 + 15 * M, INSTANCE, channels, previous_alerts=previous)
    ids = [got.json()["id"] for got in receiver.received]
    assert ids == [
        "chatwoot-health/chat.example.com/service_down/2026-11-27T12:00:00Z/start",
        "chatwoot-health/chat.example.com/service_down/2026-11-27T12:00:00Z/resolve",
    ]


def test_a_later_run_seeding_an_earlier_runs_new_alert_leaves_it_to_that_run(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Issue #10: two overlapping runs on a new database, the later one deciding first. Its
    bootstrap seeds the earlier run's alerts as if sent; the earlier run, whose previous run was
    up, sees its own new alert seeded and undelivered, takes it back and sends it: once."""
    db = tmp_path / "state.db"
    channels = webhook_channel(receiver.url())
    later = notify(
        db,
        [service_down()],
        T0 + timedelta(milliseconds=80),
        INSTANCE,
        channels,
        previous_alerts=lambda: [service_down()],  # the earlier run's artifact, just written
    )
    assert later.started == [] and receiver.received == []
    earlier = notify(db, [service_down()], T0, INSTANCE, channels, previous_alerts=lambda: [])
    assert earlier.started == ["service_down"]
    assert [got.json()["id"] for got in receiver.received] == [
        "chatwoot-health/chat.example.com/service_down/2026-11-27T12:00:00Z/start"
    ]
    after = notify(db, [service_down()], T0 + 5 * M, INSTANCE, channels, previous_alerts=lambda: [])
    assert after.started == [] and len(receiver.received) == 1  # a sent episode stays sent
    with NotifyStore(db) as store:
        (episode,) = store.episodes(T0, T0 + 10 * M)
    assert not episode.seeded and episode.started_at == T0


def test_a_corrupt_database_is_moved_aside_and_replaced(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not an SQLite database, just junk\x00" * 100)
    outcome = notify(
        db,
        [service_down()],
        T0,
        INSTANCE,
        webhook_channel(receiver.url()),
        previous_alerts=lambda: [service_down()],
    )
    (notice,) = outcome.notices
    assert notice.startswith(f"{db} is not a readable database (file is not a database)")
    assert notice.endswith("moved aside as state.db.corrupt-20261127T120000Z; starting afresh")
    assert (tmp_path / "state.db.corrupt-20261127T120000Z").read_bytes().startswith(b"this is")
    assert outcome.failures == [] and receiver.received == []  # seeded: not sent again
    with NotifyStore(db) as store:
        (episode,) = store.episodes(T0, T0 + M)
    assert episode.seeded


def test_a_corrupt_database_that_cannot_be_moved_aside_is_one_failure(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not an SQLite database, just junk\x00" * 100)
    (tmp_path / "state.db.corrupt-20261127T120000Z").mkdir()  # where it would be moved
    outcome = notify(db, [service_down()], T0, INSTANCE, webhook_channel(receiver.url()))
    assert outcome.failures == [f"notification state: cannot move {db} aside (Is a directory)"]
    assert outcome.started == [] and receiver.received == []  # nothing sent, nothing recorded
    assert db.read_bytes().startswith(b"this is")


def test_unrelated_instances_have_their_own_episodes(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "state.db"
    channels = webhook_channel(receiver.url())
    notify(db, [service_down()], T0, INSTANCE, channels)
    notify(db, [service_down()], T0, "https://other.example.com", channels)
    hosts = sorted(got.json()["id"].split("/")[1] for got in receiver.received)
    assert hosts == ["chat.example.com", "other.example.com"]


# ------------------------------------------------------------------------------------ processes

_CHILD = """
import json, os, sys
from datetime import datetime
from pathlib import Path
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.notify import notify, webhook_channel
from chatwoot_health.notify.state import NotifyStore

db, url, at, start_at, user = sys.argv[1:6]
alert = Alert(name="service_down", severity=Severity.CRITICAL, title="Service Down",
              message="down", since=datetime.fromisoformat(at))
if user:
    os.setgid(int(user)); os.setuid(int(user))
import time
while time.time() < float(start_at):
    time.sleep(0.001)
state = NotifyStore(Path(db), busy_timeout=float(os.environ.get("BUSY", "5")))
outcome = notify(state, [alert], datetime.fromisoformat(at), "https://chat.example.com",
                 webhook_channel(url))
print(json.dumps({"failures": outcome.failures, "delivered": outcome.delivered,
                  "notices": outcome.notices}))
"""


def child(
    db: Path, url: str, *, start_at: float = 0.0, user: int | None = None, busy: float = 5.0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(db),
            url,
            T0.isoformat(),
            str(start_at),
            str(user or ""),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO), "BUSY": str(busy)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str]) -> dict[str, list[str]]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and err == "", err
    parsed: dict[str, list[str]] = json.loads(out)
    return parsed


def test_two_runs_in_the_same_second_send_exactly_one_message(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "state.db"
    start_at = time.time() + 1.5  # both children are imported and waiting by then
    runs = [child(db, receiver.url(), start_at=start_at) for _ in range(2)]
    outcomes = [result(run) for run in runs]
    assert sorted(len(o["delivered"]) for o in outcomes) == [0, 1]
    assert all(o["failures"] == [] for o in outcomes)
    assert len(receiver.received) == 1


def test_a_database_locked_longer_than_the_busy_timeout(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "state.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "db.execute('PRAGMA journal_mode=WAL'); db.execute('BEGIN IMMEDIATE'); "
            "print('locked', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        blocked = result(child(db, receiver.url(), busy=0.3))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        assert holder.stdout is not None
        holder.stdout.close()
    (line,) = blocked["failures"]
    assert line == (
        f"notification state: {db} is locked by another run for more than 0.3 s; "
        "notifications are left to the next run"
    )
    assert receiver.received == []
    assert len(result(child(db, receiver.url()))["delivered"]) == 1
    assert result(child(db, receiver.url()))["delivered"] == []
    assert len(receiver.received) == 1


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="notify-ro-"))
    path.chmod(0o755)
    yield path
    for item in path.iterdir():
        item.unlink()
    path.rmdir()


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to 'nobody'; as a user chmod suffices")
@pytest.mark.parametrize("case", ["file", "directory"])
def test_read_only_state_skips_delivery_and_says_so(
    shared_dir: Path, receiver: Receiver, case: str
) -> None:
    db = shared_dir / "state.db"
    if case == "file":  # a writable directory, a read-only database file
        with NotifyStore(db) as store, store.transaction():
            pass
        shared_dir.chmod(0o777)
        db.chmod(0o444)
    # "directory": nothing exists, and the directory (root's, 0755) is not writable by nobody
    outcome = result(child(db, receiver.url(), user=NOBODY))
    (line,) = outcome["failures"]
    assert line.startswith(f"notification state: cannot write {db} (")
    assert line.endswith(
        "notifications skipped this run: nothing is sent that cannot be recorded, "
        "so nothing repeats"
    )
    assert receiver.received == [] and outcome["delivered"] == []
