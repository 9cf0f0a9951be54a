"""The shared notification state (issue #14) over a real PostgreSQL: the same flow as the SQLite
state (chatwoot_health/notify/state_flow.py) in PostgreSQL's spelling — episodes, the outbox,
deliveries to a real HTTP receiver, the incident log, and issue #10's overlapping first runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chatwoot_health.notify import notify, webhook_channel
from chatwoot_health.notify.state_pg import PgNotifyStore
from chatwoot_health.store import db
from tests.factory import T0
from tests.servers.receiver import Receiver
from tests.store_support import store_dsn
from tests.test_notify_state import INSTANCE, M, service_down

__all__ = ["store_dsn"]
START = f"chatwoot-health/chat.example.com/service_down/{T0:%Y-%m-%dT%H:%M:%SZ}/start"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def shared(store_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    db.migrate(store_dsn)
    connection = db.connect(store_dsn)
    try:
        yield connection
    finally:
        connection.close()


def test_an_episode_is_one_start_and_one_resolution_with_its_deliveries(
    shared: psycopg.Connection[Any], receiver: Receiver, tmp_path: Path
) -> None:
    channels = webhook_channel(receiver.url())
    store = PgNotifyStore(shared, INSTANCE)
    for minute, active in ((0, True), (5, True), (10, False), (15, False)):
        alerts = [service_down()] if active else []
        outcome = notify(store, alerts, T0 + minute * M, INSTANCE, channels)
        assert outcome.failures == []
    assert [got.json()["id"] for got in receiver.received] == [START, START[:-5] + "resolve"]
    (episode,) = store.episodes(T0, T0 + 20 * M, INSTANCE)
    assert episode.ended_at == T0 + 10 * M and not episode.seeded
    assert [(d.kind, d.attempts, d.delivered_at is not None) for d in episode.deliveries] == [
        ("start", 1, True),
        ("resolve", 1, True),
    ]
    assert store.episodes(T0, T0 + 20 * M, "https://other.example.com") == []


def test_a_later_run_seeding_an_earlier_runs_new_alert_leaves_it_to_that_run(
    shared: psycopg.Connection[Any], receiver: Receiver, tmp_path: Path
) -> None:
    """As the SQLite state's test of the same name: the earlier run takes its seed back."""
    channels = webhook_channel(receiver.url())
    store = PgNotifyStore(shared, INSTANCE)
    later = notify(
        store,
        [service_down()],
        T0 + timedelta(milliseconds=80),
        INSTANCE,
        channels,
        previous_alerts=lambda: [service_down()],
    )
    assert later.started == [] and receiver.received == []
    earlier = notify(
        store,
        [service_down()],
        T0,
        INSTANCE,
        channels,
        previous_alerts=lambda: [],
    )
    assert earlier.started == ["service_down"] and earlier.failures == []
    assert [got.json()["id"] for got in receiver.received] == [START]
    (episode,) = store.episodes(T0, T0 + 10 * M)
    assert not episode.seeded and episode.started_at == T0


def test_a_row_of_another_hosts_channel_is_left_to_that_host(
    shared: psycopg.Connection[Any], receiver: Receiver, tmp_path: Path
) -> None:
    """Hosts may have different channels: a start one host could not deliver to its own channel
    stays that host's to retry (never claimed, leased nor tried by a host without the channel)."""
    theirs = webhook_channel("http://127.0.0.1:9/unreachable")
    store = PgNotifyStore(shared, INSTANCE)
    first = notify(store, [service_down()], T0, INSTANCE, theirs)
    assert first.started == ["service_down"] and len(first.failures) == 1
    mine = webhook_channel(receiver.url("/mine"))
    ours = notify(store, [service_down()], T0 + 5 * M, INSTANCE, mine)
    assert ours.failures == [] and ours.delivered == [] and receiver.received == []
    rows = shared.execute("SELECT attempts, lease_until FROM notify_outbox").fetchall()
    assert rows == [(1, None)]  # tried once by its host, and not leased by the other
