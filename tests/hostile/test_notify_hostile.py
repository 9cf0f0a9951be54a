"""Hostile tests of the shared notification flow (issue #10; ``notify/state_flow.py``): a crash
between "decided" and "delivered", a channel that fails, overlapping runs. The outbox delivers at
least once, never loses a message, and the message keeps its id across retries (a receiver
de-duplicates on it); the first stderr line never claims a page that did not reach anyone.

Real processes (``chatwoot-health check`` against the Chatwoot stand-in, a real webhook receiver),
the outage confirmed fast (DOWN_AFTER 1 s, a re-probe every 0.5 s). A run killed mid-delivery
leaves its row leased (SEND_DEADLINE per row plus 30 s): the retry after the lease is the engine's
own entry point called with a later ``now`` (the clock is passed in), on the same database.
The same over a real PostgreSQL (the store's shared state) with three probe hosts.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatwoot_health.notify.channels import webhook_channel
from chatwoot_health.notify.engine import notify
from chatwoot_health.notify.state_pg import PgNotifyStore
from chatwoot_health.sqlite import DB_NAME
from chatwoot_health.store import db
from tests.hostile.test_fast_path_hostile import Quick, assert_contract, fault_lines
from tests.servers.chatwoot_server import ChatwootServer
from tests.servers.receiver import Receiver
from tests.servers.smtp import SmtpServer
from tests.store_support import PASSWORD, Hosts, hosts, store_dsn, store_rows
from tests.test_outage_timeline import TOKEN, Timeline, finish

__all__ = ["hosts", "store_dsn"]  # the fixtures, used by name


class WebhookOnly(Quick):
    """One channel (the webhook), so every message has one outbox row."""

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("CHATWOOT_HEALTH_NOTIFY")
        return env


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Timeline]:
    with ChatwootServer(TOKEN) as server, Receiver() as receiver, SmtpServer() as smtp:
        yield WebhookOnly(server, receiver, smtp, tmp_path / "artifacts")


def outbox(line: Timeline) -> list[tuple[str, int, bool]]:
    """(message id, attempts, delivered) of every outbox row."""
    with sqlite3.connect(line.directory / DB_NAME) as db:
        rows = db.execute(
            "SELECT message_id, attempts, delivered_at IS NOT NULL FROM notify_outbox ORDER BY id"
        ).fetchall()
    return [(str(m), int(a), bool(d)) for m, a, d in rows]


def ids(line: Timeline) -> list[str]:
    return [r.json()["id"] for r in line.receiver.received]


def test_a_failing_webhook_is_retried_with_the_same_id_and_never_claimed(
    line: Timeline,
) -> None:
    """The webhook answers 500 when the outage is decided: the run does not say "notified",
    the next run delivers the same message (same id), the one after sends nothing."""
    assert line.check().code == 0
    line.receiver.mode = "500"
    line.down()
    failed = line.check()
    assert_contract(failed, 2)
    assert "not notified yet: service_down" in failed.stderr
    assert "notified: service_down" not in failed.stderr.replace("not notified yet", "")
    assert "ALERT_WEBHOOK_URL: service_down start not delivered (answered HTTP 500" in failed.stderr
    [(message_id, attempts, delivered)] = outbox(line)
    assert (attempts, delivered) == (1, False)

    line.receiver.mode = "ok"
    retried = line.check()
    assert_contract(retried, 2)
    assert "notified: service_down" in retried.stderr
    assert ids(line) == [message_id]
    assert outbox(line) == [(message_id, 2, True)]

    quiet = line.check()
    assert_contract(quiet, 2)
    assert fault_lines(quiet) == [] and "notified" not in quiet.stderr
    assert ids(line) == [message_id]


def test_a_check_killed_between_decided_and_delivered(line: Timeline) -> None:
    """SIGKILL while the webhook hangs on the start message: the decision survives in the
    outbox; a run inside the lease does not send it twice; once the lease ends the message
    goes out with its id; then nothing more."""
    assert line.check().code == 0
    line.receiver.mode = "hang"
    line.down()
    process = line.start()
    try:
        wait_leased(line)
        process.send_signal(signal.SIGKILL)
    finally:
        killed = finish(process)
    assert killed.code == -signal.SIGKILL
    [(message_id, attempts, delivered)] = outbox(line)
    assert not delivered and "/service_down/" in message_id and message_id.endswith("/start")

    line.receiver.mode = "ok"
    inside = line.check()  # the lease still holds: the killed run might be delivering
    assert_contract(inside, 2)
    assert ids(line) == []
    assert outbox(line)[0][0] == message_id

    # After the lease (the clock passed in): delivered once, with the id decided before the kill.
    later = datetime.now(UTC) + timedelta(minutes=2)
    channels = webhook_channel(line.receiver.url())
    outcome = notify(
        line.directory / DB_NAME, [], later, instance(line), channels, judged=frozenset()
    )
    assert outcome.failures == [] and outcome.sent == [("service_down", "start")]
    assert ids(line) == [message_id]
    again = notify(
        line.directory / DB_NAME, [], later, instance(line), channels, judged=frozenset()
    )
    assert again.sent == [] and ids(line) == [message_id]
    assert outbox(line) == [(message_id, attempts + 1, True)]


def wait_leased(line: Timeline) -> None:
    """Until a run has leased its message: its delivery has begun."""
    deadline = time.monotonic() + 20
    while not leased(line):
        if time.monotonic() > deadline:
            pytest.fail("the run never leased its message")
        time.sleep(0.05)


def leased(line: Timeline) -> bool:
    """Whether a message is leased (read-only: a database not made yet is not made here)."""
    try:
        with sqlite3.connect(
            f"file:{line.directory / DB_NAME}?mode=ro", uri=True, timeout=0.1
        ) as db:
            row = db.execute(
                "SELECT 1 FROM notify_outbox WHERE lease_until IS NOT NULL LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def instance(line: Timeline) -> str:
    with sqlite3.connect(line.directory / DB_NAME) as db:
        (value,) = db.execute("SELECT instance FROM notify_episodes LIMIT 1").fetchone()
    return str(value)


def test_overlapping_runs_while_one_is_stuck_delivering(line: Timeline) -> None:
    """A run hangs on the webhook; two more start meanwhile: none decides the outage again and
    none tries the leased message (a try would hang on the same webhook for SEND_DEADLINE)."""
    assert line.check().code == 0
    line.receiver.mode = "hang"
    line.down()
    stuck = line.start()
    try:
        wait_leased(line)
        started = time.monotonic()
        others = [finish(p) for p in [line.start(), line.start()]]
        took = time.monotonic() - started
    finally:
        stuck.send_signal(signal.SIGKILL)
        finish(stuck)
    for run in others:
        assert_contract(run, 2)
        assert "notified" not in run.stderr and "not delivered" not in run.stderr
    assert took < 8, took
    [(_message_id, attempts, delivered)] = outbox(line)
    assert (attempts, delivered) == (0, False)


# ------------------------------------------------------------------ PostgreSQL: three hosts


@pytest.mark.postgres
def test_three_hosts_at_the_same_instant_page_once(hosts: Hosts) -> None:
    """The three locations' checks start together during an outage, twice: one Service Down."""
    hosts.round()
    hosts.down()
    for _ in range(2):
        runs = [finish(p) for p in [hosts.start(location) for location in "abc"]]
        for run in runs:
            assert run.code in (1, 2) and "Traceback" not in run.stderr, run.stderr
            assert PASSWORD not in run.stdout + run.stderr
    assert len(hosts.messages("Service Down")) == 1, hosts.messages()
    assert len({item for item in hosts.ids()}) == len(hosts.ids())


@pytest.mark.postgres
def test_a_host_killed_mid_delivery_leaves_the_message_to_another(hosts: Hosts) -> None:
    """Host b decides the outage (a and b down: the majority) and is SIGKILLed while the webhook
    hangs; host c, inside the lease, sends nothing; after the lease any host's engine sends it
    once, with the id b decided."""
    hosts.round()
    hosts.down()
    assert hosts.check("a").code == 1  # one location alone never pages
    hosts.hook.mode = "hang"
    stuck = hosts.start("b")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(row[2] for row in hosts.outbox()):
            time.sleep(0.05)
        stuck.send_signal(signal.SIGKILL)
    finally:
        killed = finish(stuck)
    assert killed.code == -signal.SIGKILL
    [(message_id, attempts, leased_row, delivered)] = hosts.outbox()
    assert leased_row and not delivered and message_id.endswith("/start")

    hosts.hook.mode = "ok"
    inside = hosts.check("c")
    assert inside.code == 2 and "Traceback" not in inside.stderr, inside.stderr
    assert hosts.ids() == []

    later = datetime.now(UTC) + timedelta(minutes=2)
    [(instance_name,)] = store_rows(hosts.dsn, "SELECT DISTINCT instance FROM notify_episodes")
    with db.connect(hosts.dsn) as connection:
        shared = PgNotifyStore(connection, str(instance_name))
        channels = webhook_channel(hosts.hook.url())
        sent = notify(shared, [], later, str(instance_name), channels, judged=frozenset())
    assert sent.failures == [] and sent.sent == [("service_down", "start")], sent
    assert hosts.ids() == [message_id]
    assert hosts.outbox() == [(message_id, attempts + 1, False, True)]
