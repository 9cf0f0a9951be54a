"""Probe rules over ``httpx.MockTransport``: no socket, no server, milliseconds a test.

The socket stand-in (tests/servers/chatwoot_server.py) stays for the end-to-end tests; these pin the
decisions a probe makes from one answer: liveness falls back past a 404, a 5xx is down, a 429 is
retried once, a body of the wrong shape is an error that says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from chatwoot_health.check import CheckOptions, run_check
from chatwoot_health.models.artifact import CheckResult
from chatwoot_health.probes.chatwoot import ProbeData, ProbeSettings, run_probes
from chatwoot_health.state import ExitCode

NOW = datetime(2026, 11, 27, 0, 45, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "chatwoot"
API_INDEX = json.loads((DATA / "api_index.json").read_text())
Handler = Callable[[httpx.Request], httpx.Response]


def answer(status: int, body: object = None, text: str = "") -> httpx.Response:
    """A response the client streams, as from a socket (``httpx.Response(json=...)`` arrives
    already read, and the probes read the raw stream to bound its size)."""
    if body is not None:
        data, kind = json.dumps(body).encode(), "application/json"
    else:
        data, kind = text.encode(), "text/plain"
    return httpx.Response(status, headers={"content-type": kind}, stream=httpx.ByteStream(data))


def settings(**changes: object) -> ProbeSettings:
    base = ProbeSettings(
        base_url="http://chatwoot.invalid",
        api_token=SecretStr("t" * 24),
        account_id=1,
        health_path=None,
        agent_health_url=None,
        timeout=2.0,
        agent_slow=5.0,
        agent_timeout=10.0,
        retry_429_after=0.0,
        liveness_only=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def probe(handler: Handler, **changes: object) -> tuple[ProbeData, Counter[str]]:
    """Run the probes against ``handler``; also count the requests per path."""
    calls: Counter[str] = Counter()

    def counted(request: httpx.Request) -> httpx.Response:
        calls[request.url.path] += 1
        return handler(request)

    transport = httpx.MockTransport(counted)
    return asyncio.run(run_probes(settings(**changes), NOW, transport)), calls


def check(data: ProbeData, name: str) -> CheckResult:
    found = next((result for result in data.checks if result.name == name), None)
    assert found is not None, name
    return found


def test_liveness_falls_back_past_a_404_to_the_next_path() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/rails/health":
            return answer(404, text="Not Found")
        if request.url.path == "/health":
            return answer(200, {"status": "woot"})
        return answer(200, API_INDEX)

    data, _calls = probe(handler)
    result = check(data, "rails_health")
    assert (result.ok, result.state, result.path, result.status_code) == (
        True,
        "up",
        "/health",
        200,
    )


def test_every_liveness_path_a_404_is_no_path_not_down() -> None:
    data, _calls = probe(lambda request: answer(404, text="Not Found"))
    result = check(data, "rails_health")
    assert (result.ok, result.state) == (None, "no_path")


def test_a_5xx_is_down() -> None:
    data, _calls = probe(lambda request: answer(503, text="Service Unavailable"))
    result = check(data, "rails_health")
    assert (result.ok, result.state, result.path, result.status_code) == (
        False, "down", "/rails/health", 503)  # fmt: skip
    assert check(data, "api_services").ok is False


def test_a_429_is_retried_once() -> None:
    seen: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] += 1
        if request.url.path == "/rails/health" and seen["/rails/health"] == 1:
            return answer(429, text="Retry later")
        return answer(200, API_INDEX)

    data, calls = probe(handler)
    assert check(data, "rails_health").ok is True
    assert calls["/rails/health"] == 2


def test_a_429_twice_is_reported_not_retried_forever() -> None:
    data, calls = probe(lambda request: answer(429, text="Retry later"))
    result = check(data, "rails_health")
    assert result.status_code == 429 and result.ok is None  # something answers: not an outage
    assert calls["/rails/health"] == 2


def test_a_body_of_the_wrong_shape_says_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/conversations/meta"):
            return answer(200, ["not", "a", "meta", "object"])
        if request.url.path == "/api/v1/profile":
            return answer(200, {"id": "one"})
        return answer(200, API_INDEX)

    data, _calls = probe(handler, liveness_only=False)
    conversations = check(data, "conversations")
    assert conversations.ok is False
    assert conversations.error == (
        "200 but the JSON is not {meta: {all_count}}: is this a Chatwoot API?"
    )
    assert check(data, "profile").error == (
        "200 but the JSON is not a user object: is this a Chatwoot API?"
    )


def test_run_check_passes_the_transport_through(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda request: answer(500, text="boom"))
    options = CheckOptions(settings(), tmp_path / "artifacts", write=False)
    outcome = run_check(options, NOW, transport)
    assert outcome.exit_code is ExitCode.CRITICAL
    assert outcome.artifact.status.value == "down"
