"""``report`` with Supabase: SLA, approvals, review queue, outages and --notify.

Runs the real supabase client against the PostgREST *protocol stand-in*
(tests/servers/pgrest_server.py) over a real PostgreSQL with the shipped migration applied.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from chatwoot_health.cli import main
from tests.factory import artifact, write_all
from tests.fixtures_postgres import InsertRows
from tests.servers.pgrest_server import PgRestStandIn

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)  # Friday 15:00 in New York
M = timedelta(minutes=1)


def u(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def decision(
    id_: int, received: datetime, decided: datetime | None, **extra: Any
) -> dict[str, Any]:
    row = {
        "id": id_,
        "conversation_id": 100 + id_,
        "customer_name": f"Customer {id_}",
        "channel": "Channel::WebWidget",
        "message_received_at": received,
        "decided_at": decided,
        "webhook_ms": 300,
        "private_note_ms": 1000,
        "approval_ms": 500,
    }
    row.update(extra)
    return row


DECISIONS = [
    # Friday 16:55 EST → Monday 09:05 EST: 10 business minutes, met
    decision(1, u(2026, 11, 20, 21, 55), u(2026, 11, 23, 14, 5), webhook_ms=200),
    # Saturday → Monday 09:10 EST: 10 business minutes, met
    decision(2, u(2026, 11, 21, 15, 0), u(2026, 11, 23, 14, 10), webhook_ms=400),
    # Tuesday 10:00 → 10:40 EST: 40 minutes, a breach with a reason
    decision(
        3,
        u(2026, 11, 24, 15, 0),
        u(2026, 11, 24, 15, 40),
        customer_name="Dana",
        channel="Channel::Email",
        reason="complex refund",
        webhook_ms=600,
    ),
    # Thursday 09:00 → 09:15 EST: exactly the target, met
    decision(4, u(2026, 11, 26, 14, 0), u(2026, 11, 26, 14, 15), webhook_ms=800),
    # pending since 14:50 EST: 10 minutes at 15:00, in progress
    decision(5, u(2026, 11, 27, 19, 50), None, webhook_ms=1000),
    # pending since 13:00 EST: 120 minutes, a breach
    decision(
        6,
        u(2026, 11, 27, 18, 0),
        None,
        customer_name="<script>alert(1)</script>",
        channel="sms",
        webhook_ms=1200,
    ),
    # received before the 7-day window: ignored
    decision(7, u(2026, 11, 19, 15, 0), u(2026, 11, 19, 18, 0)),
]


def approvals() -> list[dict[str, Any]]:
    rows = [
        {
            "id": i,
            "conversation_id": i,
            "reviewer": None,
            "status": "pending",
            "requested_at": AT - 40 * M,
            "resolved_at": None,
        }
        for i in range(1, 13)
    ]
    rows.append(
        {
            "id": 20,
            "conversation_id": 20,
            "reviewer": "CEO",
            "status": "approved",
            "requested_at": AT - 300 * M,
            "resolved_at": AT - 290 * M,
        }
    )
    rows.append(
        {
            "id": 21,
            "conversation_id": 21,
            "reviewer": "CEO",
            "status": "edited",
            "requested_at": AT - 200 * M,
            "resolved_at": AT - 180 * M,
        }
    )
    return rows


@pytest.fixture
def history(tmp_path: Path) -> Path:
    directory = tmp_path / "artifacts"
    write_all(directory, [artifact(AT - 5 * M * i) for i in range(1, 13)])
    return directory


@pytest.fixture
def supabase_env(
    pgrest: PgRestStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> PgRestStandIn:
    monkeypatch.setenv("SUPABASE_URL", pgrest.url)
    monkeypatch.setenv("SUPABASE_KEY", pgrest.key)
    monkeypatch.setenv("SUPABASE_TIMEOUT", "2")
    monkeypatch.setenv("CHATWOOT_HEALTH_CACHE_DIR", str(tmp_path / "cache"))
    return pgrest


def report(runner: CliRunner, history: Path, *args: str, at: datetime = AT) -> tuple[int, Any, str]:
    result = runner.invoke(
        main,
        [
            "report",
            "--artifacts-dir",
            str(history),
            "--at",
            at.isoformat(),
            "--format",
            "json",
            *args,
        ],
        catch_exceptions=False,
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result.stderr


def test_sla_approvals_and_queue(
    runner: CliRunner, history: Path, supabase_env: PgRestStandIn, insert: InsertRows
) -> None:
    insert("decision_log", DECISIONS)
    insert("approvals_history", approvals())
    code, data, err = report(runner, history)
    sla = data["sla"]
    assert err == ""
    assert (sla["met"], sla["total"], sla["in_progress"], sla["breaches"]) == (3, 5, 1, 2)
    assert sla["compliance_percent"] == 60.0
    assert sla["avg_response_minutes"] == 18.8  # decided rows: (10 + 10 + 40 + 15) / 4 = 18.75
    assert sla["status"] == "red"
    assert [
        (b["conversation_id"], b["wait_minutes"], b["pending"]) for b in sla["breach_details"]
    ] == [(106, 120.0, True), (103, 40.0, False)]
    assert sla["breach_details"][1]["customer_name"] == "Dana"
    assert sla["breach_details"][1]["reason"] == "complex refund"
    assert sla["breach_details"][1]["channel"] == "Email"
    approvals_out = data["approvals"]
    # webhook_ms of the 6 rows in the window: 200 … 1200; P90 at rank 4.5 = 1100 > 1000
    assert approvals_out["webhook_ms"]["median"] == 700.0
    assert approvals_out["webhook_ms"]["p90"] == pytest.approx(1100.0)
    assert approvals_out["webhook_ms"]["missed"] is True
    assert approvals_out["pending"] == 12
    assert approvals_out["avg_processing_minutes"] == 15.0  # (10 + 20) / 2
    assert approvals_out["estimated_wait_minutes"] == 180.0  # 12 × 15 ÷ 1 reviewer online
    assert data["response_time"]["targets_missed"] == 1
    assert data["response_time"]["status"] == "yellow"
    alerts = {a["name"]: a["severity"] for a in data["alerts"]}
    assert alerts == {"sla_breach": "critical", "high_queue": "warning"}
    assert code == 2


def test_every_row_beyond_the_row_cap(
    runner: CliRunner, history: Path, supabase_env: PgRestStandIn, insert: InsertRows
) -> None:
    supabase_env.max_rows = 1000
    start = u(2026, 11, 23, 15, 0)  # Monday 10:00 EST
    insert(
        "decision_log",
        [
            decision(
                i, start + i * timedelta(seconds=10), start + i * timedelta(seconds=10) + 5 * M
            )
            for i in range(1, 2501)
        ],
    )
    code, data, _ = report(runner, history)
    assert data["sla"]["total"] == 2500
    assert data["sla"]["compliance_percent"] == 100.0
    assert code == 0


def test_unreachable_supabase_degrades_one_section_and_uses_the_cache(
    runner: CliRunner,
    history: Path,
    supabase_env: PgRestStandIn,
    insert: InsertRows,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    insert("decision_log", DECISIONS[:2])
    # a report of the past never writes the cache …
    report(runner, history, at=AT - 20 * M)
    assert not (history.parent / "cache" / "supabase-sections.json").exists()
    # … a live one does (the clock read once, 14 minutes before the next run)
    with freeze_time(AT - 14 * M):
        result = runner.invoke(
            main,
            ["report", "--artifacts-dir", str(history), "--format", "json"],
            catch_exceptions=False,
        )
    assert json.loads(result.stdout)["sla"]["compliance_percent"] == 100.0
    assert result.exit_code == 0
    monkeypatch.setenv("SUPABASE_KEY", "wrong-key-0123456789abcdef")
    code, data, err = report(runner, history)
    sla = data["sla"]
    assert sla["status"] == "unknown"
    assert sla["error"].startswith("Supabase rejected SUPABASE_KEY")
    assert sla["error"].endswith("— using cached data from 14 minutes ago")
    assert sla["compliance_percent"] == 100.0
    assert [a["name"] for a in data["alerts"]] == ["supabase_unavailable"]
    assert data["uptime"]["percent"] == 100.0  # the rest of the report is unaffected
    assert "wrong-key-0123456789abcdef" not in json.dumps(data) + err
    assert len(err.splitlines()) == 1 and err.startswith("chatwoot-health: Supabase: ")
    assert code == 1


@pytest.mark.parametrize(
    ("knob", "expected"),
    [
        ("missing_table", "table decision_log_x not found"),
        ("html", "answered HTTP 502 with a page that is not PostgREST JSON"),
        ("refused", "refused"),
    ],
)
def test_errors_are_one_line_and_never_fatal(
    runner: CliRunner,
    history: Path,
    supabase_env: PgRestStandIn,
    monkeypatch: pytest.MonkeyPatch,
    knob: str,
    expected: str,
) -> None:
    if knob == "missing_table":
        monkeypatch.setenv("CHATWOOT_HEALTH_TABLE_DECISION_LOG", "decision_log_x")
    elif knob == "html":
        supabase_env.html_error = True
    else:
        monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:9")
    code, data, err = report(runner, history)
    assert err.startswith("chatwoot-health: Supabase: ") and len(err.splitlines()) == 1
    assert data["sla"]["status"] == "unknown"
    assert expected.lower() in data["sla"]["error"].lower()
    assert "\n" not in data["sla"]["error"]
    assert code == 1


def test_not_configured_changes_nothing_and_imports_nothing(history: Path) -> None:
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from chatwoot_health.cli import main\n"
        "r = CliRunner(catch_exceptions=False).invoke(main, ['report', "
        f"'--artifacts-dir', {str(history)!r}, '--at', {AT.isoformat()!r}, '--format', 'json'])\n"
        "import json; d = json.loads(r.stdout)\n"
        "print(r.exit_code, d['sla']['status'], d['approvals']['status'], "
        "'supabase' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(history)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).parents[1],
    ).stdout
    assert out.split() == ["0", "not_configured", "not_configured", "False"]


def test_notify_dedups_across_runs_and_resolves(
    runner: CliRunner,
    history: Path,
    supabase_env: PgRestStandIn,
    insert: InsertRows,
    pg: psycopg.Connection[Any],
) -> None:
    insert("decision_log", DECISIONS)
    for _ in range(3):
        code, _data, err = report(runner, history, "--notify")
        assert code == 2
    rows = pg.execute(
        "select kind, dedup_key, resolved_at from notifications order by id"
    ).fetchall()
    assert rows == [("sla_breach", "sla_breach:https://chat.example.com", None)]
    pg.execute("update decision_log set decided_at = message_received_at + interval '1 minute'")
    code, _data, err = report(runner, history, "--notify")
    assert "resolved: sla_breach" in err
    rows = pg.execute("select kind, resolved_at is not null from notifications").fetchall()
    assert rows == [("sla_breach", True)]
    assert code == 0
