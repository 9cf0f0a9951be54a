"""``check``'s fast alert path (issue #10's 50 ms budget) against the full read it stands for.

A healthy ``check`` judges its alerts from the last few hours of runs and the channels' week as a
digest kept in the database beside the artifacts (``check.recent_digest``,
``artifacts/recent.py``); every other run reads the week of files as ``report`` does
(``check.recent_runs``). Over a generated history — an outage, a queue that stays high, an inbox
that goes silent during business hours — both must give the same alerts at every run, also
after the database is deleted, after a file inside the week is deleted, and when the clock goes
back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatwoot_health import check
from chatwoot_health.artifacts.recent import channel_digest
from chatwoot_health.artifacts.store import ArtifactDirectory, write_artifact
from chatwoot_health.demo import Scenario, make_artifact
from chatwoot_health.models.alert import Alert
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.notify.channels import webhook_channel
from chatwoot_health.sqlite import DB_NAME
from tests.factory import artifact_files

# A Wednesday, 16:00 in New York (the default business calendar): the SMS inbox falls silent
# at 08:00 there and its outage (4 business hours) starts while the runs are being stepped.
END = datetime(2026, 11, 25, 21, 0, 3, 250000, tzinfo=UTC)
STEP = timedelta(minutes=5)
STEPPED = timedelta(hours=10)


@dataclass(frozen=True)
class Timeline(Scenario):
    """The demo's runs with the events moved into the stepped hours."""

    def in_outage(self, t: datetime) -> bool:  # longer than the short read: read in full
        return self.end - timedelta(hours=7) <= t < self.end - timedelta(hours=4, minutes=30)

    def in_gap(self, t: datetime) -> bool:
        return self.end - timedelta(hours=8) <= t < self.end - timedelta(hours=7, minutes=40)

    def in_spike(self, t: datetime) -> bool:
        return self.end - timedelta(hours=9) <= t < self.end - timedelta(hours=8, minutes=30)

    def backlog(self, t: datetime) -> bool:
        return self.end - timedelta(hours=4) <= t < self.end - timedelta(hours=1)

    def sms_silent(self, t: datetime) -> bool:
        return t >= self.end - timedelta(hours=8)


def history(end: datetime, days: float) -> list[Artifact]:
    scenario = Timeline(end)
    rng = random.Random(11)
    count = int(timedelta(days=days) / STEP)
    runs = []
    for i in range(count):
        t = end - STEP * (count - 1 - i) + timedelta(seconds=rng.uniform(0, 3))
        if not scenario.in_gap(t):
            runs.append(make_artifact(t, scenario, rng, 7))
    return runs


def alerting() -> check.Alerting:
    return check.Alerting(channels=tuple(webhook_channel("http://127.0.0.1:9/hook")))


def full(directory: Path, artifact: Artifact, path: Path) -> list[Alert]:
    """What ``check`` judges from the files (the reference: ``report``'s reading)."""
    settings = alerting()
    now = artifact.checked_at
    runs, first = check.recent_runs(directory, now, settings, artifact, path)
    return check.judge_alerts(runs, now, check.SERVICE_DOWN_AFTER, settings, first)[0]


def fast(directory: Path, artifact: Artifact, path: Path) -> tuple[list[Alert], bool]:
    """What the fast path judges, and whether it was taken (as ``check.alert_step`` does)."""
    settings = alerting()
    options = check.CheckOptions(probes=None, artifacts_dir=directory, alerting=settings)  # type: ignore[arg-type]
    now = artifact.checked_at
    recent = check.recent_digest(options, settings, artifact, path)
    if recent is None or not recent.suffices(None, now):
        return full(directory, artifact, path), False
    found = check.judge_alerts(
        recent.runs, now, check.SERVICE_DOWN_AFTER, settings, None, None, recent.digest
    )
    return found[0], True


def slow_previous_hour(artifact: Artifact, hour: datetime) -> Artifact:
    activity = [
        bucket.model_copy(
            update={"avg_first_response_seconds": 7200.0, "first_response_count": 400}
        )
        if bucket.hour == hour
        else bucket
        for bucket in artifact.inbox_activity or ()
    ]
    return artifact.model_copy(update={"inbox_activity": activity})


@pytest.fixture(scope="module")
def runs() -> list[Artifact]:
    return history(END, days=8)


def test_the_fast_path_judges_as_the_full_read_at_every_run(
    tmp_path: Path, runs: list[Artifact]
) -> None:
    start = END - STEPPED
    for artifact in runs:
        if artifact.checked_at < start:
            write_artifact(tmp_path, artifact, durable=False)
    stepped = [artifact for artifact in runs if artifact.checked_at >= start]
    # The last run of an hour reports its previous hour slower than every other run did (a
    # late first response): its buckets win that hour, until the file is deleted two hours on.
    hour = (END - timedelta(hours=9, minutes=30)).replace(minute=0, second=0, microsecond=0)
    victim = max(i for i, a in enumerate(stepped) if a.checked_at < hour + timedelta(hours=1))
    stepped[victim] = slow_previous_hour(stepped[victim], hour - timedelta(hours=1))
    taken, seen = 0, set()
    victim_path = None
    for i, artifact in enumerate(stepped):
        path = write_artifact(tmp_path, artifact, durable=False)
        if i == victim:
            victim_path = path
        if i == 40:  # the database deleted: the digest is rebuilt from the files
            (tmp_path / DB_NAME).unlink()
        if i == victim + 24:  # a run inside the week deleted: its buckets had won, rebuilt
            assert victim_path is not None
            victim_path.unlink()
        expected = full(tmp_path, artifact, path)
        got, used = fast(tmp_path, artifact, path)
        assert got == expected, artifact.checked_at
        taken += used
        seen |= {alert.name for alert in expected}
    # The history holds what the fast path must hand over, and the path was taken otherwise.
    assert {"service_down", "health_check_failed", "high_queue", "channel_outage"} <= seen
    assert {"slow_response", "channel_slow_response"} <= seen
    assert taken >= len(stepped) * 0.4, (taken, len(stepped))


def test_the_digest_stands_down_when_a_run_is_dated_after_now(tmp_path: Path) -> None:
    """The clock went back: a run taken in is later than ``now``; its buckets may have won over
    a run the full read keeps, so the files are read."""
    runs = history(END, days=0.5)
    for artifact in runs:
        write_artifact(tmp_path, artifact, durable=False)
    listing = ArtifactDirectory(tmp_path)
    since = END - timedelta(days=7)
    assert channel_digest(listing, tmp_path / DB_NAME, since, END) is not None
    earlier = runs[-10].checked_at
    assert channel_digest(listing, tmp_path / DB_NAME, since, earlier) is None
    # …and the alerts at that earlier moment still equal the full read's.
    path = artifact_files(tmp_path)[-10]
    assert fast(tmp_path, runs[-10], path)[0] == full(tmp_path, runs[-10], path)


def test_a_database_that_cannot_be_used_leaves_the_full_read(tmp_path: Path) -> None:
    runs = history(END, days=0.2)
    for artifact in runs:
        path = write_artifact(tmp_path, artifact, durable=False)
    (tmp_path / DB_NAME).write_bytes(b"not a database, not even close" * 100)
    listing = ArtifactDirectory(tmp_path)
    assert channel_digest(listing, tmp_path / DB_NAME, END - timedelta(days=7), END) is None
    assert fast(tmp_path, runs[-1], path) == (full(tmp_path, runs[-1], path), False)
