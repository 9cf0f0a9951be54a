"""Fixtures for the Chatwoot-like server and for running ``check`` against it.

``env`` points every setting at a fresh server and a temporary artifacts directory; ``check_cli``
runs the command through Click and greps everything it printed and wrote for secrets, so every
end-to-end scenario is also a redaction test.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr

from chatwoot_health.check import CheckOptions, CheckOutcome, run_check
from chatwoot_health.probes.chatwoot import ProbeSettings
from tests.servers.chatwoot_server import (
    AGENT_PATH,
    MEMBER_ACCOUNT,
    ChatwootServer,
    closed_port,
    secret_values,
)

#: The run's clock for core-level tests: 00:45 UTC, so the hourly buckets are 23:00 (the day
#: before) and 00:00.
NOW = datetime(2026, 11, 27, 0, 45, 0, 123000, tzinfo=UTC)


def fake_token() -> str:
    """24 characters like a real Chatwoot access token, different in every test."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


@pytest.fixture
def api_token() -> str:
    return fake_token()


@pytest.fixture
def chatwoot(api_token: str) -> Iterator[ChatwootServer]:
    server = ChatwootServer(api_token).start()
    try:
        yield server
    finally:
        server.stop()
    assert server.errors == [], f"the test server itself failed: {server.errors}"


@dataclass
class CheckEnv:
    server: ChatwootServer
    token: str
    artifacts_dir: Path
    monkeypatch: pytest.MonkeyPatch
    root: Path  # the test's tmp_path: every file a run may write lies below it

    def set(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def unset(self, name: str) -> None:
        self.monkeypatch.delenv(name, raising=False)

    def artifacts(self) -> list[Path]:
        if not self.artifacts_dir.is_dir():
            return []
        return sorted(path for path in self.artifacts_dir.rglob("*") if path.is_file())

    def secrets(self) -> list[str]:
        return [self.token, *secret_values()]


@pytest.fixture
def env(chatwoot: ChatwootServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CheckEnv:
    artifacts_dir = tmp_path / "artifacts"
    monkeypatch.setenv("CHATWOOT_BASE_URL", chatwoot.url)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", chatwoot.token)
    monkeypatch.setenv("CHATWOOT_ACCOUNT_ID", str(MEMBER_ACCOUNT))
    monkeypatch.setenv("AGENT_HEALTH_URL", chatwoot.agent_url)
    monkeypatch.setenv("CHATWOOT_HEALTH_ARTIFACTS_DIR", str(artifacts_dir))
    # A failed liveness probe is confirmed for DOWN_AFTER (2 min by default): a fraction of a
    # second here (tests/test_outage_timeline.py runs the confirmation at length).
    monkeypatch.setenv("CHATWOOT_HEALTH_RETRY_INTERVAL", "0.1")
    monkeypatch.setenv("CHATWOOT_HEALTH_DOWN_AFTER", "0.2")
    return CheckEnv(chatwoot, chatwoot.token, artifacts_dir, monkeypatch, tmp_path)


def assert_no_secrets(text: str, values: list[str], where: str) -> None:
    for value in values:
        assert value not in text, f"a secret ({value[:3]}…) leaked into {where}"


class CheckCli(Protocol):
    def __call__(self, *args: str, group_args: Sequence[str] = ()) -> Result: ...


@pytest.fixture
def check_cli(runner: CliRunner, env: CheckEnv) -> CheckCli:
    """``check_cli("--timeout", "0.3")`` runs ``chatwoot-health check …``; no secret may leak."""
    from chatwoot_health.cli import main

    def invoke(*args: str, group_args: Sequence[str] = ()) -> Result:
        result = runner.invoke(main, [*group_args, "check", *args], catch_exceptions=False)
        values = env.secrets()
        assert_no_secrets(result.stdout, values, "stdout")
        assert_no_secrets(result.stderr, values, "stderr")
        for path in env.root.rglob("*"):  # artifacts wherever a setting sent them
            if path.is_file():
                assert_no_secrets(path.read_text(errors="replace"), values, str(path))
        return result

    return invoke


def only_artifact(env: CheckEnv) -> dict[str, Any]:
    files = env.artifacts()
    assert len(files) == 1, files
    data: dict[str, Any] = json.loads(files[0].read_text())
    return data


def check_of(artifact: dict[str, Any], name: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [c for c in artifact["checks"] if c["name"] == name]
    assert len(matches) == 1, f"{name}: {matches}"
    return matches[0]


def pick(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: mapping[key] for key in keys}


class Unreachable:
    """Stands in for a :class:`ChatwootServer` that is down: a port nothing listens on."""

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{closed_port()}"
        self.agent_url = self.url + AGENT_PATH
        self.token = fake_token()


def probe_settings(server: ChatwootServer | Unreachable, **changes: Any) -> ProbeSettings:
    """Settings for a core-level run against ``server`` (a short 429 back-off keeps tests fast)."""
    settings = ProbeSettings(
        base_url=server.url,
        api_token=SecretStr(server.token),
        account_id=MEMBER_ACCOUNT,
        health_path=None,
        agent_health_url=server.agent_url,
        timeout=2.0,
        agent_slow=5.0,
        agent_timeout=10.0,
        retry_429_after=0.05,
    )
    return dataclasses.replace(settings, **changes)


def run_core(
    server: ChatwootServer | Unreachable,
    artifacts_dir: Path,
    now: datetime = NOW,
    write: bool = True,
    **changes: Any,
) -> CheckOutcome:
    options = CheckOptions(probe_settings(server, **changes), artifacts_dir, write=write)
    return run_check(options, now)
