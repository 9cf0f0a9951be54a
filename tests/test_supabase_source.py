"""SupabaseSource through the real ``supabase`` client, against the PostgREST protocol stand-in
(tests/servers/pgrest_server.py, not PostgREST itself) over a real PostgreSQL with the shipped
migration.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from chatwoot_health.alerts import PROACTIVE
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.models.settings import SupabaseSettings
from chatwoot_health.notify import notify
from chatwoot_health.report.notifications import MirrorResult, mirror_episodes
from chatwoot_health.sources.supabase import MIGRATION, SupabaseError, SupabaseSource
from tests.fixtures_postgres import InsertRows
from tests.servers.pgrest_server import PgRestStandIn
from tests.servers.postgres_server import apply_migration, free_port

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
INSTANCE = "chat.example.com"
WRONG_KEY = "wrong-key-0123456789abcdef"

SERVICE_DOWN = Alert(
    name="service_down",
    severity=Severity.CRITICAL,
    title="Service Down",
    message="Rails health check failed (error: 404)",
    action="Verify Chatwoot instance at chat.example.com",
    last_success=T0 - timedelta(minutes=5),
)
HIGH_QUEUE = Alert(
    name="high_queue",
    severity=Severity.WARNING,
    title="High review queue",
    message="12 approvals pending for 30 minutes",
)

Source = Callable[..., SupabaseSource]


def sync(
    source: SupabaseSource, state: Path, alerts: list[Alert], instance: str, now: datetime
) -> MirrorResult:
    """One ``report --notify`` run: the engine decides (no channel here), the table mirrors."""
    notify(state, alerts, now, instance)
    return mirror_episodes(source, state, instance, now, PROACTIVE)


@pytest.fixture
def source(pgrest: PgRestStandIn) -> Iterator[Source]:
    """``source(**settings)``: a SupabaseSource on the stand-in, closed after the test."""
    opened: list[SupabaseSource] = []

    def make(**overrides: Any) -> SupabaseSource:
        settings: dict[str, Any] = {"url": pgrest.url, "key": SecretStr(pgrest.key), "timeout": 5.0}
        settings.update(overrides)
        opened.append(SupabaseSource(SupabaseSettings(**settings)))
        return opened[-1]

    yield make
    for item in opened:
        item.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def decision(row_id: int, received: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "conversation_id": 1000 + row_id,
        "message_received_at": received,
        **extra,
    }


def notification_rows(pg: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return pg.execute(
        "select kind, dedup_key, resolved_at from notifications order by id"
    ).fetchall()


def test_importing_the_module_does_not_import_supabase() -> None:
    code = (
        "import sys, chatwoot_health.sources.supabase as s; "
        "assert 'supabase' not in sys.modules and 'postgrest' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.postgres
class TestReadsViaPostgrestStandIn:
    @pytest.mark.parametrize("cap", [1000, 300])
    def test_every_row_exactly_once_past_the_server_row_cap(
        self, pgrest: PgRestStandIn, insert: InsertRows, source: Source, cap: int
    ) -> None:
        pgrest.max_rows = cap
        insert("decision_log", [decision(i, T0 + timedelta(seconds=i)) for i in range(1, 2501)])

        rows = source().decisions(T0, T0 + timedelta(days=1))

        assert [row.id for row in rows] == list(range(1, 2501))
        pages = pgrest.requests("decision_log")
        assert all(page.rows <= cap for page in pages)
        assert pages[-1].rows == 0  # stopped on the empty page, not on a short one
        assert len(pages) == -(-2500 // cap) + 1

    def test_time_window_is_filtered_on_the_server(
        self, pgrest: PgRestStandIn, insert: InsertRows, source: Source
    ) -> None:
        start, end = T0, T0 + timedelta(hours=1)
        insert(
            "decision_log",
            [
                decision(1, start - timedelta(microseconds=1)),
                decision(2, start),
                decision(
                    3,
                    start + timedelta(minutes=30),
                    decided_at=start + timedelta(minutes=31),
                    webhook_ms=420,
                    reason="after_hours",
                ),
                decision(4, end - timedelta(microseconds=1)),
                decision(5, end),
                *(decision(i, start - timedelta(days=2, seconds=i)) for i in range(10, 500)),
            ],
        )

        rows = source().decisions(start, end)

        # (start, end]: the window rule of every section
        assert [row.id for row in rows] == [3, 4, 5]
        assert rows[0].decided_at == start + timedelta(minutes=31)
        assert rows[0].webhook_ms == 420 and rows[0].reason == "after_hours"
        assert all(row.message_received_at.tzinfo is not None for row in rows)
        assert sum(page.rows for page in pgrest.requests("decision_log")) == 3

    def test_approvals_relevant_to_the_queue_in_the_window(
        self, pgrest: PgRestStandIn, insert: InsertRows, source: Source
    ) -> None:
        start, end = T0, T0 + timedelta(hours=1)
        hour = timedelta(hours=1)
        insert(
            "approvals_history",
            [
                {"id": 1, "requested_at": start - 2 * hour, "resolved_at": start - hour},  # before
                {"id": 2, "requested_at": start - 2 * hour, "resolved_at": start},  # left at start
                {"id": 3, "requested_at": start - hour, "resolved_at": start + hour / 2},
                {"id": 4, "requested_at": start - hour, "resolved_at": None},  # still pending
                {"id": 5, "requested_at": end, "resolved_at": None},  # arrives at the end
                {"id": 6, "requested_at": end + timedelta(seconds=1), "resolved_at": None},  # after
                {"id": 7, "requested_at": start + hour / 4, "resolved_at": end + hour},
            ],
        )

        rows = source().approvals(start, end)

        assert [row.id for row in rows] == [3, 4, 5, 7]
        assert sum(page.rows for page in pgrest.requests("approvals_history")) == 4

    def test_pending_approvals_are_counted_by_the_server_past_the_cap(
        self, pgrest: PgRestStandIn, insert: InsertRows, source: Source
    ) -> None:
        insert(
            "approvals_history",
            [
                {"id": i, "requested_at": T0, "resolved_at": None if i % 4 else T0}
                for i in range(1, 1601)
            ],
        )

        assert source().pending_approvals() == 1200
        assert [page.rows for page in pgrest.requests("approvals_history")] == [1]

    def test_extra_columns_in_the_table_are_ignored(
        self, pg: psycopg.Connection[Any], insert: InsertRows, source: Source
    ) -> None:
        pg.execute("alter table decision_log add column sentiment text default 'calm'")
        try:
            insert("decision_log", [decision(1, T0, sentiment="angry", grade=4)])
            rows = source().decisions(T0 - timedelta(minutes=1), T0)
        finally:
            pg.execute("alter table decision_log drop column sentiment")
        assert len(rows) == 1 and rows[0].grade == 4
        assert not hasattr(rows[0], "sentiment")


@pytest.mark.postgres
class TestErrorsViaPostgrestStandIn:
    """Each failure is one actionable line without the key, within a bounded time."""

    def fails(self, source: SupabaseSource, budget: float = 3.0) -> str:
        began = time.perf_counter()
        with pytest.raises(SupabaseError) as caught:
            source.decisions(T0, T0 + timedelta(hours=1))
        elapsed = time.perf_counter() - began
        message = str(caught.value)
        assert elapsed < budget, f"took {elapsed:.1f} s"
        assert "\n" not in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        return message

    @pytest.mark.parametrize("mode", ["postgrest", "gateway"])
    def test_wrong_key(self, pgrest: PgRestStandIn, source: Source, mode: str) -> None:
        pgrest.auth_mode = mode
        message = self.fails(source(key=SecretStr(WRONG_KEY)))
        assert message.startswith("Supabase rejected SUPABASE_KEY (")
        expected = "JWT could not be decoded" if mode == "postgrest" else "Invalid API key"
        assert expected in message
        assert WRONG_KEY not in message and pgrest.key not in message

    def test_missing_table_until_the_migration_is_applied(
        self, pg: psycopg.Connection[Any], postgres_dsn: str, source: Source
    ) -> None:
        pg.execute("drop table decision_log")
        try:
            message = self.fails(source())
        finally:
            apply_migration(postgres_dsn)  # idempotent: restores only the dropped table
        assert message == f"table decision_log not found: apply {MIGRATION}"
        assert source().decisions(T0, T0 + timedelta(hours=1)) == []

    def test_table_name_override_that_does_not_exist(self, source: Source) -> None:
        message = self.fails(source(decision_log="decisions"))
        assert message == (
            f"table decisions not found: apply {MIGRATION} "
            "(or fix CHATWOOT_HEALTH_TABLE_DECISION_LOG)"
        )

    def test_refused_connection(self) -> None:
        port = free_port()  # nothing listens there
        settings = SupabaseSettings(
            url=f"http://127.0.0.1:{port}", key=SecretStr(WRONG_KEY), timeout=0.5
        )
        with SupabaseSource(settings) as closed:
            message = self.fails(closed)
        assert message == (
            f"cannot connect to Supabase at 127.0.0.1:{port} (connection refused): "
            "check SUPABASE_URL"
        )

    def test_timeout(self, pgrest: PgRestStandIn, source: Source) -> None:
        pgrest.delay = 2.0
        message = self.fails(source(timeout=0.5), budget=1.5)
        assert message == (
            f"Supabase at {pgrest.url.removeprefix('http://')} did not answer within 0.5 s "
            "(SUPABASE_TIMEOUT)"
        )

    def test_html_502_from_a_proxy_is_retried_once(
        self, pgrest: PgRestStandIn, source: Source
    ) -> None:
        pgrest.html_error = True
        message = self.fails(source())
        assert "answered HTTP 502 with a page that is not PostgREST JSON" in message
        assert "<" not in message
        assert len(pgrest.requests()) == 2  # one retry, no more

    def test_key_is_scrubbed_even_where_a_message_would_contain_it(
        self, pgrest: PgRestStandIn, source: Source
    ) -> None:
        # A (misconfigured) table override equal to the key puts the key into the error text.
        message = self.fails(source(approvals_history=pgrest.key, decision_log=pgrest.key))
        assert pgrest.key not in message
        assert message.startswith("table [SUPABASE_KEY] not found: apply ")


@pytest.mark.postgres
class TestNotificationsViaPostgrestStandIn:
    """The notifications table as a mirror of the engine's episodes (nothing is sent here: the
    engine's own tests cover delivery, tests/test_report_notify.py the whole command)."""

    def test_start_repeat_resolve_restart(
        self, pg: psycopg.Connection[Any], source: Source, state: Path
    ) -> None:
        reporter = source()

        first = sync(reporter, state, [SERVICE_DOWN], INSTANCE, T0)
        assert first == MirrorResult(["service_down"], [])
        for minute in range(5, 30, 5):  # the alert stays active over several cron runs
            again = sync(reporter, state, [SERVICE_DOWN], INSTANCE, T0 + timedelta(minutes=minute))
            assert again == MirrorResult([], [])
        assert len(notification_rows(pg)) == 1

        cleared = sync(reporter, state, [], INSTANCE, T0 + timedelta(minutes=30))
        assert cleared == MirrorResult([], ["service_down"])
        quiet = sync(reporter, state, [], INSTANCE, T0 + timedelta(minutes=35))
        assert quiet == MirrorResult([], [])
        assert notification_rows(pg) == [
            ("service_down", f"service_down:{INSTANCE}", T0 + timedelta(minutes=30))
        ]

        back = sync(reporter, state, [SERVICE_DOWN], INSTANCE, T0 + timedelta(hours=1))
        assert back.inserted == ["service_down"]
        rows = notification_rows(pg)
        assert len(rows) == 2 and rows[1][2] is None

    def test_row_contents(self, pg: psycopg.Connection[Any], source: Source, state: Path) -> None:
        sync(source(), state, [HIGH_QUEUE], INSTANCE, T0)
        row = pg.execute(
            "select kind, severity, title, message, dedup_key, created_at, resolved_at "
            "from notifications"
        ).fetchone()
        assert row == (
            "high_queue",
            "warning",
            "High review queue",
            "12 approvals pending for 30 minutes",
            f"high_queue:{INSTANCE}",
            T0,
            None,
        )

    def test_only_pushed_alerts_are_recorded(
        self, pg: psycopg.Connection[Any], source: Source, state: Path
    ) -> None:
        banner = Alert(
            name="monitoring_gap", severity=Severity.WARNING, title="Gap", message="runs missing"
        )
        assert sync(source(), state, [banner], INSTANCE, T0) == MirrorResult([], [])
        assert notification_rows(pg) == []

    def test_an_episode_that_came_and_went_between_mirrors_closes_the_old_row(
        self, pg: psycopg.Connection[Any], source: Source, state: Path
    ) -> None:
        reporter = source()
        sync(reporter, state, [SERVICE_DOWN], INSTANCE, T0)
        # Two runs without a mirror (check's, say): the outage ends, a new one begins.
        notify(state, [], T0 + timedelta(minutes=10), INSTANCE)
        notify(state, [SERVICE_DOWN], T0 + timedelta(minutes=20), INSTANCE)
        caught_up = mirror_episodes(
            reporter, state, INSTANCE, T0 + timedelta(minutes=25), PROACTIVE
        )
        assert caught_up == MirrorResult(["service_down"], ["service_down"])
        assert notification_rows(pg) == [
            ("service_down", f"service_down:{INSTANCE}", T0 + timedelta(minutes=10)),
            ("service_down", f"service_down:{INSTANCE}", None),
        ]

    def test_other_instances_are_left_alone(
        self, pg: psycopg.Connection[Any], source: Source, state: Path
    ) -> None:
        reporter = source()
        sync(reporter, state, [SERVICE_DOWN], "other.example.com", T0)
        result = sync(reporter, state, [], INSTANCE, T0 + timedelta(minutes=5))
        assert result == MirrorResult([], [])
        assert notification_rows(pg)[0][2] is None

    def race(self, source: Source, state: Path, now: datetime) -> list[MirrorResult]:
        """Two mirrors that both read the open rows before either writes: the worst overlap."""
        barrier = threading.Barrier(2, timeout=10)
        results: list[MirrorResult] = []
        errors: list[BaseException] = []

        def run() -> None:
            reporter = source()
            read = reporter.open_notifications

            def read_then_wait() -> Any:
                rows = read()
                barrier.wait()
                return rows

            reporter.open_notifications = read_then_wait  # type: ignore[method-assign]
            try:
                results.append(mirror_episodes(reporter, state, INSTANCE, now, PROACTIVE))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert not errors
        return results

    def test_concurrent_mirrors_insert_one_row(
        self, pg: psycopg.Connection[Any], source: Source, state: Path
    ) -> None:
        notify(state, [SERVICE_DOWN], T0, INSTANCE)
        results = self.race(source, state, T0)

        assert sorted(result.inserted for result in results) == [[], ["service_down"]]
        assert len(notification_rows(pg)) == 1

    def test_concurrent_mirrors_resolve_once(
        self, pg: psycopg.Connection[Any], source: Source, state: Path
    ) -> None:
        sync(source(), state, [SERVICE_DOWN], INSTANCE, T0)
        notify(state, [], T0 + timedelta(minutes=10), INSTANCE)

        results = self.race(source, state, T0 + timedelta(minutes=10))

        assert sorted(result.resolved for result in results) == [[], ["service_down"]]
        assert notification_rows(pg)[0][2] == T0 + timedelta(minutes=10)
