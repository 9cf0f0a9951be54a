"""``check`` confirms an outage fast, judges the alerts and says what failed (issue #10).

The confirmation runs over ``httpx.MockTransport`` with the clock and the sleep passed in: no
socket and no waiting. The timeline against real servers is tests/test_outage_timeline.py.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from chatwoot_health import alerts
from chatwoot_health.check import Alerting, CheckOptions, check_view, run_check
from chatwoot_health.cli import main
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.models.artifact import Artifact, CheckResult, Reprobe, RunStatus
from chatwoot_health.notify.decide import OpenEpisode, decide
from chatwoot_health.probes.chatwoot import ProbeSettings
from chatwoot_health.render.check import RENDERERS, headline, status_line
from chatwoot_health.state import ExitCode

T0 = datetime(2026, 11, 27, 12, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class FakeClock:
    """A clock that only moves when the run sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def probe_settings() -> ProbeSettings:
    return ProbeSettings(
        base_url="http://chatwoot.invalid",
        api_token=None,
        account_id=None,
        health_path="/health",
        agent_health_url=None,
        timeout=2.0,
        agent_slow=5.0,
        agent_timeout=10.0,
        retry_429_after=0.0,
        liveness_only=True,
    )


def answer(status: int, body: bytes, kind: str = "application/json") -> httpx.Response:
    """Streamed, as from a socket (the probes read the raw stream to bound its size)."""
    return httpx.Response(status, headers={"content-type": kind}, stream=httpx.ByteStream(body))


def health_answers(pattern: Callable[[int], bool]) -> tuple[httpx.MockTransport, Counter[str]]:
    """``/health`` answers up when ``pattern(n)`` holds for its n-th request (from 0), else 502;
    ``/api`` is Chatwoot's status JSON."""
    calls: Counter[str] = Counter()

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        calls[path] += 1
        if path == "/health":
            up = pattern(calls[path] - 1)
            body = b'{"status":"woot"}' if up else b"<html>502 Bad Gateway</html>"
            kind = "application/json" if up else "text/html"
            return answer(200 if up else 502, body, kind)
        return answer(200, json.dumps({"data_services": "ok", "queue_services": "ok"}).encode())

    return httpx.MockTransport(handle), calls


def options(tmp_path: Path, **changes: object) -> CheckOptions:
    base = CheckOptions(
        probes=probe_settings(),
        artifacts_dir=tmp_path / "artifacts",
        retry_interval=30.0,
        down_after=timedelta(minutes=2),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- confirmation


def test_a_healthy_run_pays_nothing(tmp_path: Path) -> None:
    transport, calls = health_answers(lambda n: True)
    clock = FakeClock(T0)
    outcome = run_check(options(tmp_path), T0, transport, clock=clock, sleep=clock.sleep)
    assert outcome.exit_code is ExitCode.OK
    assert calls["/health"] == 1 and clock.slept == []
    assert outcome.artifact.reprobes is None
    assert "reprobes" not in outcome.artifact.to_json()


def test_an_outage_is_confirmed_within_the_run(tmp_path: Path) -> None:
    transport, calls = health_answers(lambda n: False)
    clock = FakeClock(T0)
    outcome = run_check(options(tmp_path), T0, transport, clock=clock, sleep=clock.sleep)
    reprobes = outcome.artifact.reprobes
    assert reprobes is not None
    assert [r.at - T0 for r in reprobes] == [timedelta(seconds=s) for s in (0, 30, 60, 90, 120)]
    assert all(r.ok is False and r.status_code == 502 for r in reprobes)
    assert clock.slept == [30.0] * 4 and calls["/health"] == 5
    assert outcome.exit_code is ExitCode.CRITICAL
    assert outcome.artifact.status is RunStatus.DOWN
    found = alerts.service_down([outcome.artifact], T0 + 2 * timedelta(minutes=1))
    assert found is not None and found.name == "service_down" and found.since == T0
    assert "5 probes in a row over 2 minutes" in found.message


def test_a_blip_is_recorded_and_the_final_verdict_is_the_last_probe(tmp_path: Path) -> None:
    transport, _ = health_answers(lambda n: n >= 1)
    clock = FakeClock(T0)
    outcome = run_check(options(tmp_path), T0, transport, clock=clock, sleep=clock.sleep)
    reprobes = outcome.artifact.reprobes
    assert reprobes is not None and [r.ok for r in reprobes] == [False, True]
    assert outcome.artifact.status is RunStatus.OK and outcome.exit_code is ExitCode.OK
    assert outcome.artifact.liveness == "up" and outcome.artifact.failure_span is None
    assert alerts.service_down([outcome.artifact], T0) is None
    # Written and read back: older readers ignore the field, the fast mirror reads it.
    assert outcome.path is not None
    assert Artifact.model_validate_json(outcome.path.read_bytes()).reprobes == reprobes


def test_a_streak_from_earlier_runs_counts(tmp_path: Path) -> None:
    """The previous run failed 90 s ago: 30 s more of failure confirm it, one re-probe."""
    transport, _ = health_answers(lambda n: False)
    first = run_check(options(tmp_path, retry_interval=None), T0 - 90 * SECOND, transport)
    assert first.artifact.liveness == "down" and first.artifact.reprobes is None
    clock = FakeClock(T0)
    outcome = run_check(options(tmp_path), T0, transport, clock=clock, sleep=clock.sleep)
    assert clock.slept == [30.0]
    history = [first.artifact, outcome.artifact]
    found = alerts.service_down(history, T0 + 30 * SECOND)
    assert found is not None and found.name == "service_down"
    assert found.since == T0 - 90 * SECOND


def test_a_streak_already_confirmed_needs_no_reprobe(tmp_path: Path) -> None:
    transport, calls = health_answers(lambda n: False)
    run_check(options(tmp_path, retry_interval=None), T0 - 5 * timedelta(minutes=1), transport)
    clock = FakeClock(T0)
    outcome = run_check(options(tmp_path), T0, transport, clock=clock, sleep=clock.sleep)
    assert clock.slept == [] and calls["/health"] == 2
    assert outcome.artifact.reprobes is not None and len(outcome.artifact.reprobes) == 1


def _run(at: datetime, *probes: tuple[float, bool]) -> Artifact:
    """A down (or up, by its last probe) run at ``at`` with re-probes ``(seconds after, ok)``."""
    final = probes[-1][1] if probes else False
    return Artifact(
        checked_at=at,
        status=RunStatus.OK if final else RunStatus.DOWN,
        instance="https://chat.example.com",
        checks=[CheckResult(name="rails_health", ok=final, error=None if final else "refused")],
        tool_version="test",
        reprobes=[Reprobe(at=at + s * SECOND, ok=ok) for s, ok in probes] or None,
    )


def test_the_rule_looks_at_the_whole_failure_span() -> None:
    down_after = timedelta(minutes=2)
    one_run = [_run(T0, (0, False), (60, False), (119, False))]
    warning = alerts.service_down(one_run, T0 + 119 * SECOND, down_after)
    assert warning is not None and warning.name == "health_check_failed"
    across = [_run(T0, (0, False), (60, False)), _run(T0 + 61 * SECOND, (0, False))]
    assert alerts.service_down(across, T0 + 61 * SECOND, timedelta(seconds=61)) is not None
    # A blip in between ends the streak: the runs count by their final verdict.
    broken = [_run(T0, (0, False), (30, True)), _run(T0 + 300 * SECOND)]
    found = alerts.service_down(broken, T0 + 300 * SECOND, down_after)
    assert found is not None and found.name == "health_check_failed"
    # Old artifacts (no re-probes): two runs over two minutes, as before.
    legacy = [_run(T0), _run(T0 + 120 * SECOND)]
    held = alerts.service_down(legacy, T0 + 120 * SECOND, down_after)
    assert held is not None and held.message.startswith("Rails health check failed 2 runs in a")


# --------------------------------------------------------------------------- judging


def _alert(name: str) -> Alert:
    return alerts.raise_alert(name, "m", T0, host="x", queue="pending")


def test_episodes_of_alerts_not_judged_stay_open() -> None:
    """check does not judge the SLA: an sla_breach that report opened is left alone."""
    episode = OpenEpisode("sla_breach", Severity.CRITICAL, "SLA Breach", "m", T0, pushed=True)
    judged = frozenset({"service_down", "high_queue"})
    decisions = decide([episode], [], T0 + SECOND, alerts.PROACTIVE, judged=judged)
    assert decisions.ends == () and decisions.continuing == ("sla_breach",)
    assert len(decide([episode], [], T0 + SECOND, alerts.PROACTIVE).ends) == 1


def test_check_judges_what_its_data_allows(tmp_path: Path) -> None:
    runs = [_run(T0 - 300 * SECOND), _run(T0)]
    alerting = Alerting()
    active, judged = alerts.evaluate(
        alerts.Evidence(now=T0, artifacts=runs, in_window=runs, interval=timedelta(minutes=5))
    )
    assert [a.name for a in active] == ["service_down"]
    assert "sla_breach" not in judged and "channel_outage" not in judged
    assert alerting.pushed == alerts.PROACTIVE
    assert {"stale_data"} <= Alerting(push_banners=True).pushed


# --------------------------------------------------------------------------- outputs


def _view_of(tmp_path: Path, pattern: Callable[[int], bool], **changes: object) -> str:
    transport, _ = health_answers(pattern)
    clock = FakeClock(T0)
    chosen = options(tmp_path, **changes)
    outcome = run_check(chosen, T0, transport, clock=clock, sleep=clock.sleep)
    return status_line(check_view(outcome, chosen))


def nagios_parse(line: str) -> tuple[str, str, dict[str, str]]:
    """As Nagios reads a plugin: the first line, text before `` | ``, perfdata after it."""
    text, _, perf = line.partition(" | ")
    state = text.split(" ", 2)[1]
    items = dict(item.split("=", 1) for item in perf.split(" ") if item)
    return state, text.split(" - ", 1)[1], {k.strip("'"): v for k, v in items.items()}


def test_the_status_line_is_a_nagios_plugin_line(tmp_path: Path) -> None:
    line = _view_of(tmp_path, lambda n: True)
    assert line.isascii() and "\n" not in line
    state, reason, perf = nagios_parse(line)
    assert state == "OK" and reason.startswith("liveness up in ")
    assert perf["rails_health"].endswith("ms;;2000;0") and "api_services" in perf

    down = _view_of(tmp_path / "down", lambda n: False)
    state, reason, _ = nagios_parse(down)
    assert state == "CRITICAL"
    assert reason == "liveness down: 502 an HTML error page from /health"


def test_the_status_line_stays_ascii_whatever_the_server_says(tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return answer(
            200, json.dumps({"data_services": "é—🔥 | x", "queue_services": "ok"}).encode()
        )

    pinned = dataclasses.replace(probe_settings(), health_path="/api")
    chosen = options(tmp_path, probes=pinned, retry_interval=None)
    outcome = run_check(chosen, T0, httpx.MockTransport(handle))
    line = status_line(check_view(outcome, chosen))
    assert line.isascii() and line.count(" | ") == 1


def test_a_lost_artifact_says_so_instead_of_ok(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    line = _view_of(tmp_path, lambda n: True, artifacts_dir=blocker)
    state, reason, _ = nagios_parse(line)
    assert state == "UNKNOWN" and reason.startswith("artifact not written: cannot write to ")


def test_the_stderr_headline_tells_the_outage(tmp_path: Path) -> None:
    transport, _ = health_answers(lambda n: False)
    clock = FakeClock(T0)
    chosen = options(tmp_path, alerting=Alerting())
    outcome = run_check(chosen, T0, transport, clock=clock, sleep=clock.sleep)
    assert headline(check_view(outcome, chosen)) == (
        "CRITICAL - liveness down: 502 an HTML error page from /health "
        "(since 12:01 UTC, confirmed after 2 minutes)"
    )
    table = RENDERERS["table"](check_view(outcome, chosen), False)
    assert table.splitlines()[0].startswith("CHATWOOT CRITICAL - ")
    assert table.splitlines()[1].startswith("Chatwoot http://chatwoot.invalid: ")


# --------------------------------------------------------------------------- settings


def test_a_bad_apprise_url_exits_unknown_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATWOOT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CHATWOOT_HEALTH_NOTIFY", "json://ok.example, nosuch://hunter2secret@x")
    result = CliRunner().invoke(main, ["check", "--liveness-only"])
    assert result.exit_code == 3
    assert result.stderr == (
        "chatwoot-health: CHATWOOT_HEALTH_NOTIFY: entry 2 (nosuch://…) is not a URL Apprise can "
        "use (unknown service, or a missing or invalid part)\n"
    )
    assert "hunter2secret" not in result.output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHATWOOT_HEALTH_RETRY_INTERVAL", "0", "'0' must be between 0 and 3600 seconds"),
        ("CHATWOOT_HEALTH_DOWN_AFTER", "soon", "'soon' is not a duration"),
        ("CHATWOOT_HEALTH_PUSH_BANNERS", "maybe", "'maybe' is not a yes/no value"),
    ],
)
def test_the_alert_settings_are_checked(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("CHATWOOT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["check", "--liveness-only"])
    assert result.exit_code == 3
    assert result.stderr.startswith(f"chatwoot-health: {variable}: {message}")
