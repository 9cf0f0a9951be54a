"""``serve`` over the shared store (issue #14) with a real PostgreSQL and uvicorn on 127.0.0.1:
every location's runs in its reports, byte for byte the CLI's; a run stored by another location
noticed without a request re-reading the window; the store stopped → the local files and the
warning, on the page and beside the API's bytes; the incident log from the shared alert state; the
connection pool closed at shutdown."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from chatwoot_health.models.artifact import Artifact
from chatwoot_health.serve.app import WARNINGS_HEADER
from chatwoot_health.serve.store import StorePool
from tests.factory import series, write_all
from tests.serve_support import AT, AT_ISO, BREAK_GLASS, PREFIX, LiveServer, serve_settings
from tests.serve_support import sign_in as sign_in_with
from tests.serve_support import start as start_server
from tests.servers.postgres_server import PostgresServer, start_postgres
from tests.store_support import PASSWORD, cli, store_as_check, store_dsn

__all__ = ["store_dsn"]
HERE = "here"
STEP = timedelta(minutes=5)
START = AT - timedelta(hours=2)
QUERY = f"at={AT_ISO}&window=2h"


def located(location: str, up: bool = True, count: int = 24) -> list[Artifact]:
    """A run every 5 minutes of the 2 hours before AT, at ``location`` (a few seconds apart)."""
    offset = timedelta(minutes=1, seconds=len(location))
    return [
        run.model_copy(update={"location": location})
        for run in series(START + offset, count, step=STEP, up=up)
    ]


def store_runs(dsn: str, artifacts: Sequence[Artifact], scratch: Path) -> None:
    store_as_check(dsn, artifacts, scratch, HERE)


def cli_report(directory: Path, dsn: str, fmt: str = "json") -> tuple[int, bytes, str]:
    done = cli(
        "report", "--artifacts-dir", str(directory), "--at", AT_ISO, "--window", "2h",
        "--format", fmt, env={"CHATWOOT_HEALTH_STORE": dsn, "CHATWOOT_HEALTH_LOCATION": HERE},
    )  # fmt: skip
    return done.code, done.stdout.encode(), done.stderr


def serve_store(directory: Path, dsn: str) -> LiveServer:
    """The server, once it has asked the store for its first marker (so that a version read
    next changes only when the store does)."""
    settings = serve_settings(directory)
    report = replace(settings.report, store=dsn, location=HERE)
    live = start_server(replace(settings, report=report))
    deadline = time.monotonic() + 10
    while live.app.state.reports.store_marker == ():
        assert time.monotonic() < deadline, "the store was not polled within 10 s"
        time.sleep(0.05)
    return live


@pytest.fixture
def signed_in() -> Iterator[list[httpx.Client]]:
    """Clients to close after the test (signed in by :func:`client_of`)."""
    clients: list[httpx.Client] = []
    yield clients
    for client in clients:
        client.close()


def client_of(live: LiveServer, clients: list[httpx.Client]) -> httpx.Client:
    client = live.client(timeout=30)
    clients.append(client)
    assert sign_in_with(client, BREAK_GLASS).status_code == 303
    return client


@contextlib.contextmanager
def own_store(tmp_path: Path, clients: list[httpx.Client]) -> Iterator[Own]:
    """A PostgreSQL of the test's own (to stop and start), holding two other locations' runs;
    this host's runs in its files; ``serve`` over both, signed in, its report read once."""
    server = start_postgres(migrate=False)
    dsn = server.dsn.replace("postgres@", f"postgres:{PASSWORD}@")
    files = tmp_path / "artifacts"
    try:
        store_runs(dsn, [*located("a"), *located("bb")], tmp_path / "sent")
        write_all(files, located(HERE))
        live = serve_store(files, dsn)
        try:
            client = client_of(live, clients)
            answer = client.get(f"{PREFIX}/report.json?{QUERY}")
            assert "locations" in answer.json()
            yield Own(server, dsn, files, client, answer.content)
        finally:
            live.stop()
        assert live.app.state.store.closed
    finally:
        server.stop()


@dataclass(frozen=True)
class Own:
    server: PostgresServer
    dsn: str
    files: Path
    client: httpx.Client
    #: The report with every location, read before anything happened to the store.
    before: bytes


@pytest.mark.postgres
def test_serve_reports_every_location_from_the_store_with_the_cli_bytes(
    store_dsn: str, tmp_path: Path, signed_in: list[httpx.Client]
) -> None:
    store_runs(store_dsn, [*located("a"), *located("bb", up=False)], tmp_path / "sent")
    files = tmp_path / "artifacts"
    write_all(files, located(HERE, count=3))  # this host's own files: not what is reported
    live = serve_store(files, store_dsn)
    try:
        client = client_of(live, signed_in)
        for fmt in ("json", "csv"):
            code, expected, stderr = cli_report(files, store_dsn, fmt)
            assert stderr == ""
            answer = client.get(f"{PREFIX}/report.{fmt}?{QUERY}")
            assert answer.status_code == 200
            assert answer.content == expected
            assert answer.headers["X-Chatwoot-Health-Exit-Code"] == str(code)
            assert WARNINGS_HEADER not in answer.headers
        data = json.loads(client.get(f"{PREFIX}/report.json?{QUERY}").content)
        assert [(where["name"], where["runs"]) for where in data["locations"]] == [
            ("a", 24),
            ("bb", 24),
        ]
        # the incident log: the alert state the hosts share in the store
        with psycopg.connect(store_dsn, autocommit=True) as connection:
            connection.execute(
                "INSERT INTO notify_episodes (instance, alert, severity, title, message, "
                "started_at, ended_at, end_reason, pushed) VALUES (%s, 'service_down', "
                "'critical', 'Chatwoot is down', 'seen from two locations', %s, %s, "
                "'resolved', true)",
                ("https://chat.example.com", AT - timedelta(hours=1), AT - timedelta(minutes=40)),
            )
        log = client.get(f"{PREFIX}/incidents?range=24h")
        assert log.status_code == 200
        assert "Chatwoot is down" in log.text
        assert "20 min" in log.text
        store = live.app.state.store
        assert isinstance(store, StorePool)
        assert not store.closed
        # Reports borrow the pool's connections: three reports not cached yet open no session
        # of their own (this count's own connection is one; the pool may grow to its second).
        before = sessions(store_dsn)
        for minutes in (1, 2, 3):
            at = (AT - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
            assert client.get(f"{PREFIX}/report.json?at={at}&window=2h").status_code == 200
        assert sessions(store_dsn) - before <= 2
    finally:
        live.stop()
    assert store.closed, "the pool outlived the server"


def sessions(dsn: str) -> int:
    """The sessions PostgreSQL has let in to the store's database so far (this one included)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
def test_a_run_another_location_stores_reaches_the_cached_reports(
    store_dsn: str, tmp_path: Path, signed_in: list[httpx.Client]
) -> None:
    store_runs(store_dsn, [*located("a"), *located("bb")], tmp_path / "sent")
    files = tmp_path / "artifacts"
    files.mkdir()
    live = serve_store(files, store_dsn)  # its clock stands at AT: reports "as of now" are AT's
    try:
        client = client_of(live, signed_in)
        before = json.loads(client.get(f"{PREFIX}/report.json").content)
        assert [where["name"] for where in before["locations"]] == ["a", "bb"]
        version = client.get(f"{PREFIX}/state").json()["version"]
        assert json.loads(client.get(f"{PREFIX}/report.json").content) == before  # cached

        store_runs(store_dsn, located("ccc", count=1), tmp_path / "sent-c")
        deadline = time.monotonic() + 15
        while client.get(f"{PREFIX}/state").json()["version"] == version:
            assert time.monotonic() < deadline, "the new run was not noticed within 15 s"
            time.sleep(0.2)
        after = json.loads(client.get(f"{PREFIX}/report.json").content)
        assert [where["name"] for where in after["locations"]] == ["a", "bb", "ccc"]
    finally:
        live.stop()


@pytest.mark.postgres
def test_a_stopped_store_falls_back_to_the_files_with_the_warning(
    tmp_path: Path, signed_in: list[httpx.Client]
) -> None:
    with own_store(tmp_path, signed_in) as own:
        client, files, dsn = own.client, own.files, own.dsn
        version = client.get(f"{PREFIX}/state").json()["version"]

        own.server.stop()
        deadline = time.monotonic() + 15
        while client.get(f"{PREFIX}/state").json()["version"] == version:
            assert time.monotonic() < deadline, "the stopped store was not noticed"
            time.sleep(0.2)
        answer = client.get(f"{PREFIX}/report.json?{QUERY}")
        assert answer.status_code == 200
        code, expected, stderr = cli_report(files, dsn)
        assert answer.content == expected  # the local files' report, as the CLI's
        assert answer.headers["X-Chatwoot-Health-Exit-Code"] == str(code)
        assert "locations" not in answer.json()
        [warning] = json.loads(answer.headers[WARNINGS_HEADER])
        assert [warning] == stderr.removeprefix("chatwoot-health: ").splitlines()
        assert warning.startswith("cannot connect to the store postgresql://***@127.0.0.1")
        assert warning.endswith(f"; reporting from the local files in {files}")

        state = client.get(f"{PREFIX}/state").json()
        assert state["report"]["warnings"] == [warning]
        page = client.get(f"{PREFIX}/")
        assert page.status_code == 200
        assert 'class="live-warning" role="alert">cannot connect to the store' in page.text
        log = client.get(f"{PREFIX}/incidents")
        assert log.status_code == 200
        assert "the alert state beside the artifacts is shown instead" in log.text
        for text in (answer.text, page.text, json.dumps(state), log.text):
            assert PASSWORD not in text
            assert "Traceback" not in text


@pytest.mark.postgres
def test_a_restarted_store_is_read_again_without_restarting_serve(
    tmp_path: Path, signed_in: list[httpx.Client]
) -> None:
    """The store stops (a restart, a failover) and comes back on the same address with its data:
    the page falls back to the files meanwhile, then reads every location from the store again,
    through the same pool (its connections to the old server are checked and replaced)."""
    with own_store(tmp_path, signed_in) as own:
        client = own.client

        def wait_for_version(than: object, what: str) -> object:
            deadline = time.monotonic() + 15
            while (version := client.get(f"{PREFIX}/state").json()["version"]) == than:
                assert time.monotonic() < deadline, what
                time.sleep(0.2)
            return version

        version = client.get(f"{PREFIX}/state").json()["version"]
        own.server.pause()
        version = wait_for_version(version, "the stopped store was not noticed")
        down = client.get(f"{PREFIX}/report.json?{QUERY}")
        assert "locations" not in down.json()
        assert json.loads(down.headers[WARNINGS_HEADER])

        own.server.resume()
        wait_for_version(version, "the store's return was not noticed")
        deadline = time.monotonic() + 15
        while WARNINGS_HEADER in (again := client.get(f"{PREFIX}/report.json?{QUERY}")).headers:
            assert time.monotonic() < deadline, again.headers[WARNINGS_HEADER]
            time.sleep(0.2)
        assert again.content == own.before  # every location, from the store again
        assert again.content == cli_report(own.files, own.dsn)[1]
