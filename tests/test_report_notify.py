"""``report --notify`` on the notification engine (issue #10): the same state database and
channels as ``check``, no Supabase needed; with Supabase, the ``notifications`` table mirrors the
engine's episodes (one row per episode, ``resolved_at`` on resolution) and nothing is sent twice.

Messages go to a real HTTP receiver on 127.0.0.1 (tests/servers/receiver.py); Supabase is the
PostgREST protocol stand-in over a real PostgreSQL (tests/servers/pgrest_server.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from chatwoot_health.cli import main
from chatwoot_health.notify import default_state_path
from chatwoot_health.notify.state import NotifyStore
from tests.factory import T0, artifact, write_all
from tests.fixtures_chatwoot import CheckEnv
from tests.servers.pgrest_server import PgRestStandIn
from tests.servers.receiver import Receiver

M = timedelta(minutes=1)
INSTANCE = "https://chat.example.com"
LIVENESS_PATHS = ("/rails/health", "/up", "/health")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with Receiver() as server:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", server.url())
        yield server


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Healthy every 5 minutes for an hour before T0."""
    directory = tmp_path / "artifacts"
    write_all(directory, [artifact(T0 - 5 * M * i) for i in range(1, 13)])
    return directory


def report(runner: CliRunner, history: Path, at: datetime) -> tuple[int, str]:
    result = runner.invoke(
        main,
        ["report", "--artifacts-dir", str(history), "--at", at.isoformat(), "--notify"],
        catch_exceptions=False,
    )
    return result.exit_code, result.stderr


def texts(receiver: Receiver) -> list[str]:
    return [str(post.json()["text"]).split("\n", 1)[0] for post in receiver.received]


def outage_timeline(runner: CliRunner, history: Path) -> list[tuple[int, str]]:
    """Healthy at T0; down from T0 + 5 min for 20 minutes, a report after each run; then up."""
    outcomes = [report(runner, history, T0)]
    for step in range(1, 6):
        at = T0 + 5 * M * step
        write_all(history, [artifact(at, up=False)])
        outcomes.append(report(runner, history, at))
    for step in range(6, 8):
        at = T0 + 5 * M * step
        write_all(history, [artifact(at)])
        outcomes.append(report(runner, history, at))
    return outcomes


def test_notify_without_supabase_uses_the_engine(
    runner: CliRunner, history: Path, receiver: Receiver
) -> None:
    outcomes = outage_timeline(runner, history)

    assert texts(receiver) == [
        "🔴 CRITICAL Chatwoot Alert: Service Down",
        texts(receiver)[1],
    ]
    assert texts(receiver)[1].startswith("✅ RESOLVED Chatwoot Alert: Service Down — down for ")
    ids = [post.json()["id"] for post in receiver.received]
    assert ids[0].endswith("/start") and ids[1].endswith("/resolve")
    assert sum("notified: service_down" in err for _, err in outcomes) == 1
    assert sum("resolved: service_down" in err for _, err in outcomes) == 1
    assert not any("SUPABASE" in err for _, err in outcomes)
    assert default_state_path(history).is_file()  # the state check uses


def test_notify_state_path_setting_is_shared(
    runner: CliRunner,
    history: Path,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state" / "alerts.db"
    state.parent.mkdir()
    monkeypatch.setenv("CHATWOOT_HEALTH_STATE", str(state))
    outage_timeline(runner, history)
    assert len(receiver.received) == 2
    with NotifyStore(state) as store:  # the episodes are in the state the setting names
        episodes = store.episodes(T0, T0 + 60 * M)
    assert ("service_down", True) in [(e.alert, e.ended_at is not None) for e in episodes]


def test_a_failing_channel_is_one_line_and_retried(
    runner: CliRunner, history: Path, receiver: Receiver
) -> None:
    report(runner, history, T0)
    receiver.mode = "500"
    for step in (1, 2, 3):
        write_all(history, [artifact(T0 + 5 * M * step, up=False)])
    code, err = report(runner, history, T0 + 15 * M)
    assert code == 2
    failed = [line for line in err.splitlines() if "ALERT_WEBHOOK_URL" in line]
    assert len(failed) == 1 and "answered HTTP 500" in failed[0]
    assert receiver.url() not in err
    receiver.mode = "ok"
    report(runner, history, T0 + 16 * M)
    assert texts(receiver) == ["🔴 CRITICAL Chatwoot Alert: Service Down"]


@pytest.mark.postgres
def test_notify_with_supabase_mirrors_one_row_per_episode(
    runner: CliRunner,
    history: Path,
    receiver: Receiver,
    pgrest: PgRestStandIn,
    pg: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SUPABASE_URL", pgrest.url)
    monkeypatch.setenv("SUPABASE_KEY", pgrest.key)
    monkeypatch.setenv("SUPABASE_TIMEOUT", "2")
    monkeypatch.setenv("CHATWOOT_HEALTH_CACHE_DIR", str(tmp_path / "cache"))

    outcomes = outage_timeline(runner, history)
    # A second outage: a second episode, a second row.
    for step in range(8, 11):
        write_all(history, [artifact(T0 + 5 * M * step, up=False)])
    outcomes.append(report(runner, history, T0 + 50 * M))
    outcomes.append(report(runner, history, T0 + 51 * M))  # again: nothing new

    assert [text.split(" — ")[0] for text in texts(receiver)] == [
        "🔴 CRITICAL Chatwoot Alert: Service Down",
        "✅ RESOLVED Chatwoot Alert: Service Down",
        "🔴 CRITICAL Chatwoot Alert: Service Down",
    ]
    rows = pg.execute(
        "select kind, dedup_key, created_at, resolved_at from notifications "
        "where kind = 'service_down' order by id"
    ).fetchall()
    assert [(kind, key) for kind, key, _, _ in rows] == [
        ("service_down", f"service_down:{INSTANCE}"),
        ("service_down", f"service_down:{INSTANCE}"),
    ]
    first, second = rows
    assert first[2] == T0 + 5 * M  # the episode's start: the first failed probe
    assert first[3] == T0 + 30 * M  # resolved when the run that saw it up ran
    assert second[2] == T0 + 40 * M and second[3] is None
    assert sum("recorded in Supabase: service_down" in err for _, err in outcomes) == 2
    assert sum("resolved in Supabase: service_down" in err for _, err in outcomes) == 1


@pytest.mark.postgres
def test_the_mirror_catches_up_with_what_check_decided(
    runner: CliRunner,
    history: Path,
    receiver: Receiver,
    pgrest: PgRestStandIn,
    pg: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Episodes started by another run on the same state (check, or a report while Supabase was
    unreachable) get their row on the next report with Supabase: no message is sent again."""
    report(runner, history, T0)
    for step in (1, 2, 3):
        write_all(history, [artifact(T0 + 5 * M * step, up=False)])
    report(runner, history, T0 + 15 * M)  # no Supabase yet: the engine notifies
    assert len(receiver.received) == 1
    monkeypatch.setenv("SUPABASE_URL", pgrest.url)
    monkeypatch.setenv("SUPABASE_KEY", pgrest.key)
    monkeypatch.setenv("CHATWOOT_HEALTH_CACHE_DIR", str(tmp_path / "cache"))
    _, err = report(runner, history, T0 + 16 * M)
    assert "recorded in Supabase: service_down" in err
    assert len(receiver.received) == 1
    rows = pg.execute("select kind, created_at, resolved_at from notifications").fetchall()
    assert rows == [("service_down", T0 + 5 * M, None)]


def test_check_and_report_on_one_directory_never_double_notify(
    runner: CliRunner, env: CheckEnv, receiver: Receiver
) -> None:
    """cron's ``check`` and a ``report --notify`` share the state beside the artifacts: each
    episode is told once, whichever command saw it first."""
    env.set("CHATWOOT_HEALTH_RETRY_INTERVAL", "0.2")
    env.set("CHATWOOT_HEALTH_DOWN_AFTER", "0.6")

    def check() -> int:
        return runner.invoke(main, ["check"], catch_exceptions=False).exit_code

    def notify_report() -> None:
        result = runner.invoke(
            main,
            ["report", "--artifacts-dir", str(env.artifacts_dir), "--notify"],
            catch_exceptions=False,
        )
        assert result.exit_code in (0, 1, 2), result.stderr

    assert check() == 0
    notify_report()
    for path in LIVENESS_PATHS:
        env.server.fault(path, "500")
    assert check() == 2  # confirmed within the run: check sends service_down
    assert texts(receiver) == ["🔴 CRITICAL Chatwoot Alert: Service Down"]
    notify_report()
    assert check() == 2
    notify_report()
    assert len(receiver.received) == 1
    with env.server._lock:
        env.server.behaviour.faults.clear()
    assert check() == 0
    notify_report()
    notify_report()
    assert len(receiver.received) == 2
    assert texts(receiver)[1].startswith("✅ RESOLVED Chatwoot Alert: Service Down")
