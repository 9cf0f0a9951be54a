"""Hosts that start at the same instant (issue #14): the host whose run began first but judges
last sees the others' runs of this round as later than its own moment, so it counts their
previous round (up). From that stale view "not a majority down" is no evidence of recovery: it
must not resolve the outage another host has just paged (it did — start and resolution every
round with cron on several hosts at :00).

Deterministic: host a talks to Chatwoot through a gate (a real forwarding HTTP proxy) that holds
its requests until b and c have finished; a's run, begun first, judges last."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chatwoot_health import alerts
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.notify.decide import OpenEpisode, decide
from tests.servers.background import InBackground
from tests.store_support import Hosts, Ran, hosts, store_dsn, store_rows
from tests.test_outage_timeline import Run, finish
from tests.test_store_runs import run

pytestmark = pytest.mark.postgres
__all__ = ["hosts", "store_dsn"]  # the fixtures, used by name

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gate: Gate


class _Handler(BaseHTTPRequestHandler):
    """Forwards each proxied request (absolute URL) once the gate is open."""

    server: _Server

    def _forward(self) -> None:
        gate = self.server.gate
        gate.arrived.set()
        if not gate.open.wait(30):
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        skip = {"host", "proxy-connection", "connection", "content-length"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        request = urllib.request.Request(self.path, body, headers, method=self.command)
        try:
            with DIRECT.open(request, timeout=10) as answer:
                status, data, kind = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as error:
            status, data, kind = error.code, error.read(), error.headers
        self.send_response(status)
        self.send_header("Content-Type", kind.get("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Gate(InBackground):
    """An HTTP proxy on 127.0.0.1 that holds every request until :attr:`open` is set."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.arrived = threading.Event()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.gate = self
        super().__init__(httpd)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.open.set()  # a request still held is let through, not left hanging
        super().__exit__(*exc)


def _a_first_and_last(hosts: Hosts) -> tuple[dict[str, Ran], Run]:
    """One round in which host a starts first and judges last: its probes are held at a gate
    (its moment was read before its first request reached it) while b and c run whole."""
    with Gate() as gate:
        hosts.proxies["a"] = gate.url()
        hosts.timeouts["a"] = "30"  # held by the gate: no timeout while it waits
        first = hosts.start("a")
        try:
            assert gate.arrived.wait(30), "host a never probed"
            later = {location: hosts.check(location) for location in "bc"}
        finally:
            gate.open.set()
            last = finish(first)
    return later, last


def test_the_host_that_started_first_and_judges_last_does_not_resolve(hosts: Hosts) -> None:
    hosts.round()
    hosts.down()
    later, last = _a_first_and_last(hosts)
    assert later["b"].code == 1  # b alone (a's stored run is still the up one)
    assert later["c"].code == 2, later["c"].output  # b and c down: the majority pages
    assert last.code in (1, 2) and "Traceback" not in last.stderr, last.stderr
    assert len(hosts.messages("Service Down")) == 1, hosts.messages()
    assert not any(item.endswith("/resolve") for item in hosts.ids()), hosts.ids()
    rows = store_rows(
        hosts.dsn,
        "SELECT count(*) FROM notify_episodes WHERE ended_at IS NULL AND alert = 'service_down'",
    )
    assert rows == [(1,)]
    hosts.proxies.clear()
    hosts.timeouts.clear()
    hosts.round()
    assert len(hosts.messages("Service Down")) == 1, hosts.messages()


T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
ROUND = timedelta(minutes=5)


def _judged_at_t0(own_up: bool) -> tuple[list[Alert], frozenset[str]]:
    """Host a's rules at T0 (its own run), the store already holding b's and c's runs of the
    same round begun a second later (down): a counts their previous round (up)."""
    runs = [run(T0 - 2 * ROUND, name) for name in "abc"]
    runs += [run(T0 - ROUND, "a", up=False), run(T0 - ROUND, "b"), run(T0 - ROUND, "c")]
    runs += [run(T0, "a", up=own_up)]
    runs += [run(T0 + timedelta(seconds=i), name, up=False) for i, name in ((1, "b"), (2, "c"))]
    last_seen = {run.location or "": run.checked_at for run in runs}
    evidence = alerts.Evidence(
        T0, runs, interval=ROUND, down_after=timedelta(minutes=1), location="a", last_seen=last_seen
    )
    return alerts.evaluate(evidence)


def _ends(active: list[Alert], judged: frozenset[str]) -> list[str]:
    """What the shared state ends when the outage's episode is open."""
    episode = OpenEpisode("service_down", Severity.CRITICAL, "Service Down", "m", T0, pushed=True)
    decided = decide([episode], active, T0, frozenset({"service_down"}), judged=judged)
    return [end.episode.name for end in decided.ends]


def test_a_host_that_sees_chatwoot_down_cannot_clear_the_quorums_outage() -> None:
    active, judged = _judged_at_t0(own_up=False)
    assert "service_down" not in {alert.name for alert in active}  # 1 of 3 down, in its view
    assert "service_down" not in judged  # …which is no evidence of recovery
    assert _ends(active, judged) == []


def test_a_host_that_sees_chatwoot_up_clears_it() -> None:
    active, judged = _judged_at_t0(own_up=True)
    assert active == [] and "service_down" in judged
    assert _ends(active, judged) == ["service_down"]


def test_the_host_that_started_first_and_judges_last_does_not_page_again_after_recovery(
    hosts: Hosts,
) -> None:
    """The mirror of the false resolution: recovery seen by b and c, then a stale view in a."""
    hosts.round()
    hosts.down()
    hosts.round()
    hosts.round()
    assert len(hosts.messages("CRITICAL Chatwoot Alert: Service Down")) == 1, hosts.messages()
    hosts.chatwoot.behaviour.faults.clear()  # back
    later, last = _a_first_and_last(hosts)
    assert later["b"].code == 0 and later["c"].code == 0, later
    assert last.code == 0 and "Traceback" not in last.stderr, last.stderr
    assert [item.rsplit("/", 1)[-1] for item in hosts.ids()] == ["start", "resolve"], hosts.ids()
