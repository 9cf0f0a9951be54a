"""Helpers of the store tests: a fresh database per test on the session's PostgreSQL, ``check``
run as a whole process at one location, and probe hosts (locations) sharing one store."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from chatwoot_health.models.artifact import Artifact
from chatwoot_health.store import db, runs
from chatwoot_health.store.runs import StoredRun
from tests.factory import write_all
from tests.hostile.support import CLI, child_env
from tests.servers.chatwoot_server import ChatwootServer
from tests.servers.postgres_server import PostgresServer
from tests.servers.receiver import Receiver

PASSWORD = "s3cret-Store-Passw0rd"
#: The Chatwoot stand-in's token of the hosts.
TOKEN = "Tq8s0aVb3kLm2Np5Rx7Yz9Wd"
_numbers = itertools.count()


@pytest.fixture
def store_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database; its URL carries a password (trust authentication ignores it), so
    every test is also a redaction test."""
    name = f"store_{os.getpid()}_{next(_numbers)}"
    admin = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"postgresql://postgres:{PASSWORD}@127.0.0.1:{postgres_server.port}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli(*args: str, env: Mapping[str, str], timeout: float = 120, cwd: Path | None = None) -> Ran:
    """``chatwoot-health ARGS`` as a child process with ``env``, HOME and the tests' clean
    environment (:func:`tests.hostile.support.child_env`); stdout a pipe, as under cron."""
    done = subprocess.run(
        [*CLI, *args],
        env=child_env({"HOME": os.environ.get("HOME", "/root"), **env}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    ran = Ran(done.returncode, done.stdout, done.stderr)
    assert PASSWORD not in ran.output, ran.output
    return ran


def store_rows(dsn: str, query: str = "SELECT location, liveness FROM health_runs") -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(dsn) as connection:
        return connection.execute(query).fetchall()


class Hosts:
    """Probe hosts sharing one store: each location its own artifacts directory and settings
    (``check`` as that host), one Chatwoot stand-in, one webhook receiver as the channel."""

    def __init__(self, root: Path, dsn: str, chatwoot: ChatwootServer, hook: Receiver) -> None:
        self.root, self.dsn, self.chatwoot, self.hook = root, dsn, chatwoot, hook
        self.proxies: dict[str, str] = {}
        #: A location's own timeout (behind a proxy that holds its requests, a long one).
        self.timeouts: dict[str, str] = {}
        self.interval = "10m"

    def env(self, location: str) -> dict[str, str]:
        env = {
            "CHATWOOT_BASE_URL": self.chatwoot.url,
            "CHATWOOT_API_TOKEN": TOKEN,
            "CHATWOOT_ACCOUNT_ID": "1",
            "CHATWOOT_HEALTH_STORE": self.dsn,
            "CHATWOOT_HEALTH_LOCATION": location,
            "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(self.root / location),
            "ALERT_WEBHOOK_URL": self.hook.url(),
            "CHATWOOT_HEALTH_DOWN_AFTER": "2s",
            "CHATWOOT_HEALTH_RETRY_INTERVAL": "1",
            "CHATWOOT_HEALTH_TIMEOUT": self.timeouts.get(location, "2"),
            "CHATWOOT_HEALTH_INTERVAL": self.interval,
        }
        if location in self.proxies:
            env["HTTP_PROXY"] = self.proxies[location]
        return env

    def check(self, location: str) -> Ran:
        return cli("check", env=self.env(location))

    def start(self, location: str) -> subprocess.Popen[str]:
        """``check`` as location ``location``, not waited for (:func:`cli`'s environment)."""
        env = child_env({"HOME": os.environ.get("HOME", "/root"), **self.env(location)})
        return subprocess.Popen(
            [*CLI, "check"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def round(self, locations: str = "abc") -> dict[str, Ran]:
        return {location: self.check(location) for location in locations}

    def down(self) -> None:
        """Chatwoot answers 500: down."""
        for path in ("/health", "/rails/health", "/api"):
            self.chatwoot.fault(path, "500")

    def messages(self, kind: str = "") -> list[str]:
        texts = [item.json()["text"] for item in self.hook.received]
        return [text for text in texts if kind in text]

    def ids(self) -> list[str]:
        return [item.json()["id"] for item in self.hook.received]

    def outbox(self) -> list[tuple[str, int, bool, bool]]:
        """(message id, attempts, leased, delivered) of every shared outbox row."""
        rows = store_rows(
            self.dsn,
            "SELECT message_id, attempts, lease_until IS NOT NULL, delivered_at IS NOT NULL "
            "FROM notify_outbox ORDER BY id",
        )
        return [(str(m), int(a), bool(lease), bool(d)) for m, a, lease, d in rows]


@pytest.fixture
def hosts(tmp_path: Path, store_dsn: str) -> Iterator[Hosts]:
    """The hosts over a migrated store (a location exists once ``check`` runs as it)."""
    migrated = cli("store", "migrate", env={"CHATWOOT_HEALTH_STORE": store_dsn})
    assert migrated.code == 0, migrated.output
    with ChatwootServer(TOKEN) as chatwoot, Receiver() as hook:
        yield Hosts(tmp_path, store_dsn, chatwoot, hook)


def store_as_check(
    dsn: str, artifacts: Sequence[Artifact], directory: Path, location: str = "here"
) -> list[Path]:
    """Write each run's file into ``directory`` and store the run as ``check`` does from
    ``location``: the file's name is the run's id. The files written."""
    db.migrate(dsn)
    written = write_all(directory, artifacts)
    connection = db.connect(dsn)
    try:
        stored = [
            StoredRun.of(p.name, a, location) for p, a in zip(written, artifacts, strict=True)
        ]
        runs.write_runs(connection, dsn, stored)
    finally:
        connection.close()
    return written
