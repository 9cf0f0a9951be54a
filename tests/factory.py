"""Build artifact histories for report tests through the real artifact model."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chatwoot_health.artifacts.store import write_artifact
from chatwoot_health.check import judge
from chatwoot_health.models.artifact import (
    Agents,
    Artifact,
    CheckResult,
    ConversationCounts,
    InboxHour,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday; 07:00 in New York


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def artifact(
    at: datetime,
    *,
    up: bool | None = True,
    ms: float = 100.0,
    pending: int | None = 3,
    agent: str | None = None,
    activity: Iterable[InboxHour] | None = None,
    extra_checks: Iterable[CheckResult] = (),
    error: str = "connection refused: is the service running and the URL right?",
) -> Artifact:
    if up is None:
        liveness = CheckResult(
            name="rails_health",
            ok=None,
            state="no_path",
            status_code=404,
            duration_ms=ms,
            error="no liveness path",
        )
    elif up:
        liveness = CheckResult(
            name="rails_health",
            ok=True,
            status_code=200,
            duration_ms=ms,
            path="/health",
            state="up",
        )
    else:
        liveness = CheckResult(
            name="rails_health",
            ok=False,
            duration_ms=ms,
            error=error,
            path="/rails/health",
            state="down",
        )
    checks = [liveness, *extra_checks]
    if agent is not None:
        checks.append(
            CheckResult(
                name="agent_sdk",
                ok=agent == "online",
                state=agent,
                status_code=200 if agent != "offline" else None,
                duration_ms=ms,
                error=None if agent == "online" else agent,
            )
        )
    counts = None
    if pending is not None and up:
        counts = ConversationCounts(open=5, pending=pending, resolved=40, snoozed=1)
    return Artifact(
        checked_at=at,
        status=judge(checks),
        instance="https://chat.example.com",
        account_id=1,
        checks=checks,
        conversations=counts,
        agents=Agents(online=1, busy=0, offline=2) if up else None,
        inbox_activity=list(activity) if activity is not None else None,
        tool_version="test",
    )


def series(
    start: datetime, count: int, step: timedelta = timedelta(minutes=5), **kwargs: object
) -> list[Artifact]:
    return [artifact(start + step * i, **kwargs) for i in range(count)]  # type: ignore[arg-type]


def write_all(directory: Path, artifacts: Iterable[Artifact]) -> list[Path]:
    return [write_artifact(directory, a, durable=False) for a in artifacts]


def artifact_files(directory: Path) -> list[Path]:
    """The artifact files under ``directory`` — in their month directories, and at the top level
    (the layout before them) — oldest first."""
    found = [*directory.glob("2*.json"), *directory.glob("*/2*.json")]
    return sorted(found, key=lambda path: path.name)
