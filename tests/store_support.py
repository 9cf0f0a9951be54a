"""Helpers of the store tests: a fresh database per test on the session's PostgreSQL, and
``check`` run as a whole process at one location."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.hostile.support import CLI, child_env
from tests.servers.postgres_server import PostgresServer

PASSWORD = "s3cret-Store-Passw0rd"
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
