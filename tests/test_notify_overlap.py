"""Issue #10 with real processes: ``chatwoot-health check`` on a brand-new state database during
an outage, against the Chatwoot stand-in (liveness failing) with a real HTTP receiver and a real
SMTP server as the channels. Whoever bootstraps the database (rebuilding the open alerts from the
artifacts), the outage is notified exactly once.

The schedule is the outage timeline's (RETRY_INTERVAL 1 s, DOWN_AFTER 4 s)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatwoot_health.sqlite import DB_NAME
from tests.servers.chatwoot_server import ChatwootServer
from tests.servers.receiver import Receiver
from tests.servers.smtp import SmtpServer
from tests.test_outage_timeline import TOKEN, Timeline, finish


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Timeline]:
    with ChatwootServer(TOKEN) as server, Receiver() as receiver, SmtpServer() as smtp:
        yield Timeline(server, receiver, smtp, tmp_path / "artifacts")


def episodes(line: Timeline) -> list[tuple[str, int]]:
    """(alert, seeded) of every episode in the state database beside the artifacts."""
    with sqlite3.connect(line.directory / DB_NAME) as db:
        rows = db.execute("SELECT alert, seeded FROM notify_episodes ORDER BY id").fetchall()
    return [(str(alert), int(seeded)) for alert, seeded in rows]


def test_the_first_check_ever_during_an_outage_notifies_it(line: Timeline) -> None:
    """The bootstrap rebuilds the previous run's alerts; this run is not its own previous run."""
    line.down()
    run = line.check()
    assert run.code == 2, run.stderr
    assert "notified: service_down" in run.stderr
    assert line.messages() == ["service_down start"]
    assert len(line.smtp.messages) == 1
    assert episodes(line) == [("service_down", 0)]


def test_two_checks_at_the_same_second_on_a_new_database_notify_once(line: Timeline) -> None:
    line.down()
    runs = [finish(process) for process in [line.start(), line.start()]]
    assert [run.code for run in runs] == [2, 2], [run.stderr for run in runs]
    assert sum("notified: service_down" in run.stderr for run in runs) == 1
    assert line.messages() == ["service_down start"]
    assert len(line.smtp.messages) == 1
    assert episodes(line) == [("service_down", 0)]
