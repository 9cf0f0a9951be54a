"""Connecting to the store and migrating its schema; every failure is one line, no password.

psycopg is imported here, lazily by the commands (never on ``check``'s start-up path). The
connection string is described only through :func:`describe` (``redact_url``: the password
becomes ``***``), and its password is registered for redaction when the setting is parsed.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, TypedDict

from chatwoot_health.redact import redact_url

if TYPE_CHECKING:
    import psycopg

#: The schema this code reads and writes (``chatwoot_health_schema.version``).
SCHEMA_VERSION = 1
#: Seconds to wait for a connection, and for any one statement: a slow store costs a run at most
#: a few seconds, never its artifact.
CONNECT_TIMEOUT = 3
STATEMENT_TIMEOUT_MS = 5000
MIGRATE_HINT = "run `chatwoot-health store migrate`"


class StoreError(Exception):
    """The store could not be used; ``str(exc)`` is one line without a password."""


class SchemaMissing(StoreError):
    pass


def describe(dsn: str) -> str:
    """The connection string as it may be shown: without its password."""
    return redact_url(dsn)


def schema_sql() -> str:
    """The migration's text (the same as ``supabase/migrations/*_health_runs.sql``)."""
    return resources.files("chatwoot_health.store").joinpath("schema.sql").read_text("utf-8")


class ConnectSettings(TypedDict):
    connect_timeout: int
    options: str
    application_name: str
    prepare_threshold: int | None
    autocommit: bool


def connect_settings(
    connect_timeout: float = CONNECT_TIMEOUT,
    statement_ms: int = STATEMENT_TIMEOUT_MS,
    application_name: str = "chatwoot-health",
) -> ConnectSettings:
    """Every connection's settings, for :func:`connect` and ``serve``'s pool alike: autocommit
    (each statement commits, and ``transaction()`` is a real transaction, never a savepoint), UTC,
    bounded statements, and nothing prepared server-side (a transaction-mode pooler, as Supabase
    offers, may hand each transaction another backend)."""
    return {
        "connect_timeout": max(1, round(connect_timeout)),
        "options": f"-c statement_timeout={statement_ms} -c TimeZone=UTC",
        "application_name": application_name,
        "prepare_threshold": None,
        "autocommit": True,
    }


def connect(
    dsn: str, *, connect_timeout: float = CONNECT_TIMEOUT, statement_ms: int = STATEMENT_TIMEOUT_MS
) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection in UTC with a statement timeout, or :class:`StoreError`.
    Nothing is prepared server-side (a transaction-mode pooler, as Supabase offers, may hand
    each transaction another backend)."""
    import psycopg

    try:
        return psycopg.connect(dsn, **connect_settings(connect_timeout, statement_ms))
    except (psycopg.Error, ValueError) as exc:
        raise error(exc, dsn, "cannot connect to") from None


def error(exc: BaseException, dsn: str, doing: str = "") -> StoreError:
    """One line for a psycopg error: a missing schema says how to make it."""
    import psycopg
    from psycopg import errors

    detail = " ".join(str(exc).split()) or type(exc).__name__
    where = describe(dsn)
    if isinstance(exc, errors.UndefinedTable | errors.UndefinedFunction):
        return SchemaMissing(f"the store {where} has no chatwoot-health schema: {MIGRATE_HINT}")
    if isinstance(exc, errors.QueryCanceled):
        detail = f"no answer within {STATEMENT_TIMEOUT_MS // 1000} s ({detail})"
    elif isinstance(exc, psycopg.OperationalError):
        detail = detail.removeprefix("connection failed: ")
    prefix = f"{doing} the store {where}" if doing else f"the store {where}"
    return StoreError(redact_url(f"{prefix}: {detail}"))


def check_version(version: object, dsn: str) -> None:
    """The schema the store holds against this code's: older needs a migration, newer a newer
    chatwoot-health."""
    if not isinstance(version, int) or version < SCHEMA_VERSION:
        raise SchemaMissing(
            f"the store {describe(dsn)} has an older chatwoot-health schema "
            f"({version}, this one needs {SCHEMA_VERSION}): {MIGRATE_HINT}"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store {describe(dsn)} was migrated by a newer chatwoot-health (schema "
            f"{version}, this one knows {SCHEMA_VERSION})"
        )


def migrate(dsn: str) -> int:
    """Create or update the schema (idempotent) and this month's partitions; the version."""
    import psycopg

    connection = connect(dsn, statement_ms=60_000)
    try:
        with connection.transaction():
            connection.execute(schema_sql().encode())
            row = connection.execute("SELECT chatwoot_health_prepare(now())").fetchone()
    except psycopg.Error as exc:
        raise error(exc, dsn, "cannot migrate") from None
    finally:
        connection.close()
    version = row[0] if row else None
    check_version(version, dsn)
    assert isinstance(version, int)
    return version
