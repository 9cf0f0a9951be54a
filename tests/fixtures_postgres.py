"""Fixtures for the real PostgreSQL and the PostgREST protocol stand-in in front of it.

PostgreSQL starts once per session (about a second). When it is not installed the fixture FAILS
(never skips): a green run must mean the Supabase edge was tested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.servers.pgrest_server import PgRestStandIn
from tests.servers.postgres_server import PostgresServer, PostgresUnavailable, start_postgres

TABLES = ("decision_log", "approvals_history", "notifications")

InsertRows = Callable[[str, Sequence[Mapping[str, Any]]], None]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.fail(f"real PostgreSQL needed for @pytest.mark.postgres tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """DSN of a database with the shipped migration applied."""
    return postgres_server.dsn


def insert_rows(
    connection: psycopg.Connection[Any], table: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert dicts; rows with the same set of columns go in one executemany."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for columns, group in groups.items():
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(column) for column in columns),
            sql.SQL(", ").join(sql.Placeholder() for _ in columns),
        )
        with connection.cursor() as cursor:
            cursor.executemany(statement, [[row[column] for column in columns] for row in group])


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A fresh autocommit connection to the test database, with the three tables emptied."""
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                sql.SQL(", ").join(sql.Identifier(table) for table in TABLES)
            )
        )
        yield connection


@pytest.fixture
def insert(pg: psycopg.Connection[Any]) -> InsertRows:
    """``insert("decision_log", [{...}, ...])`` into the freshly emptied tables."""

    def insert_into(table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_rows(pg, table, rows)

    return insert_into


@pytest.fixture(scope="session")
def _stand_in_server(postgres_dsn: str) -> Iterator[PgRestStandIn]:
    server = PgRestStandIn(postgres_dsn).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pgrest(_stand_in_server: PgRestStandIn, pg: psycopg.Connection[Any]) -> PgRestStandIn:
    """The PostgREST protocol stand-in (``.url``, ``.key``, knobs, ``.log``), reset per test,
    over emptied tables."""
    _stand_in_server.reset()
    return _stand_in_server
