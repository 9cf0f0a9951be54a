"""Three probe hosts, one store (issue #14): three ``check`` processes as locations a, b and c
against the Chatwoot-like server, the store and the alert state in a real PostgreSQL, and a real
HTTP receiver as the one channel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.factory import artifact_files
from tests.servers.chatwoot_server import ChatwootServer, closed_port
from tests.store_support import TOKEN, Hosts, cli, hosts, store_dsn, store_rows

pytestmark = pytest.mark.postgres
__all__ = ["hosts", "store_dsn"]  # the fixtures, used by name


def test_all_up_no_message(hosts: Hosts) -> None:
    for _ in range(2):
        ran = hosts.round()
        assert {location: r.code for location, r in ran.items()} == {"a": 0, "b": 0, "c": 0}
        assert all(r.stderr == "" for r in ran.values()), ran
    assert hosts.messages() == []
    rows = store_rows(hosts.dsn, "SELECT location, count(*) FROM health_runs GROUP BY 1 ORDER BY 1")
    assert rows == [("a", 2), ("b", 2), ("c", 2)]


def test_a_location_behind_a_dead_proxy_is_its_own_problem(hosts: Hosts) -> None:
    hosts.proxies["c"] = f"http://127.0.0.1:{closed_port()}"
    hosts.round()
    second = hosts.round()
    assert second["a"].code == 0 and second["b"].code == 0
    assert second["c"].code == 1, second["c"].output  # WARNING: never a page from one host
    assert "not from most locations" in second["c"].stderr
    third = hosts.round("a")
    assert third["a"].code == 0
    degraded = hosts.messages("Probe Location Degraded")
    assert len(degraded) == 1, hosts.messages()
    assert "from c only" in degraded[0]
    assert hosts.messages("Service Down") == []
    rows = store_rows(hosts.dsn, "SELECT DISTINCT location, liveness FROM health_runs ORDER BY 1")
    assert rows == [("a", "up"), ("b", "up"), ("c", "down")]


def test_an_outage_is_one_message_and_one_resolution_across_three_hosts(hosts: Hosts) -> None:
    hosts.round()
    hosts.down()  # Chatwoot answers 500
    down = hosts.round()
    assert down["a"].code == 1  # the first host of the round never pages alone
    assert down["b"].code == 2 and down["c"].code == 2
    hosts.round()
    assert len(hosts.messages("CRITICAL Chatwoot Alert: Service Down")) == 1, hosts.messages()
    hosts.chatwoot.behaviour.faults.clear()  # back
    up = hosts.round()
    assert all(r.code == 0 for r in up.values()), up
    hosts.round()
    assert len(hosts.messages("CRITICAL Chatwoot Alert: Service Down")) == 1
    assert len(hosts.messages("RESOLVED Chatwoot Alert: Service Down")) == 1, hosts.messages()
    assert hosts.messages("Degraded") == []


def test_a_host_that_stops_reporting_is_noticed_by_the_others(hosts: Hosts) -> None:
    hosts.interval = "2s"  # known for 3 intervals: 6 s
    hosts.round()
    started = time.monotonic()
    while time.monotonic() - started < 8:  # a and b go on (each round about a second)
        hosts.round("ab")
    silent = hosts.messages("Probe Host Silent")
    assert len(silent) == 1, hosts.messages()
    assert "No run from c" in silent[0]


def test_an_unreachable_store_keeps_the_run_and_sends_it_later(hosts: Hosts) -> None:
    dsn = hosts.dsn
    hosts.dsn = f"postgresql://postgres:s3cret-Store-Passw0rd@127.0.0.1:{closed_port()}/x"
    lost = hosts.check("a")
    assert lost.code == 0  # the run's own state
    [line] = lost.stderr.splitlines()
    assert "cannot connect to the store postgresql://***@127.0.0.1:" in line
    assert "sent with the next run" in line
    assert len(artifact_files(hosts.root / "a")) == 1
    hosts.dsn = dsn
    assert store_rows(dsn) == []
    again = hosts.check("a")
    assert again.code == 0 and again.stderr == ""
    names = {path.stem for path in artifact_files(hosts.root / "a")}
    assert {row[0] for row in store_rows(dsn, "SELECT artifact_id FROM health_runs")} == names
    hosts.check("a")
    count = store_rows(dsn, "SELECT count(*), count(DISTINCT artifact_id) FROM health_runs")
    assert count == [(3, 3)]


def test_a_store_without_the_schema_says_to_migrate(tmp_path: Path, store_dsn: str) -> None:
    with ChatwootServer(TOKEN) as chatwoot:
        env = {
            "CHATWOOT_BASE_URL": chatwoot.url,
            "CHATWOOT_HEALTH_STORE": store_dsn,
            "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(tmp_path),
        }
        ran = cli("check", "--liveness-only", env=env)
    assert ran.code == 0
    [line] = ran.stderr.splitlines()
    assert "has no chatwoot-health schema: run `chatwoot-health store migrate`" in line
