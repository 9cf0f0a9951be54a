"""Alert rules: persistence keeps single blips from alerting (hand-made histories + a law)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from chatwoot_health import alerts
from chatwoot_health.models.alert import Severity
from tests.factory import T0, artifact

M = timedelta(minutes=1)


def test_one_failed_run_is_only_a_warning() -> None:
    history = [artifact(T0), artifact(T0 + 5 * M, up=False)]
    alert = alerts.service_down(history, T0 + 5 * M)
    assert alert is not None
    assert (alert.name, alert.severity) == ("health_check_failed", Severity.WARNING)
    assert alert.last_success == T0


def test_two_failures_under_two_minutes_apart_are_not_an_outage() -> None:
    history = [artifact(T0, up=False), artifact(T0 + 119 * timedelta(seconds=1), up=False)]
    alert = alerts.service_down(history, T0 + 2 * M)
    assert alert is not None and alert.name == "health_check_failed"


def test_two_failures_two_minutes_apart_are_critical() -> None:
    history = [artifact(T0), artifact(T0 + 5 * M, up=False), artifact(T0 + 7 * M, up=False)]
    alert = alerts.service_down(history, T0 + 7 * M)
    assert alert is not None
    assert (alert.name, alert.severity) == ("service_down", Severity.CRITICAL)
    assert alert.since == T0 + 5 * M
    assert alert.last_success == T0
    assert "2 runs in a row" in alert.message
    assert "connection refused" in alert.message


def test_recovery_clears_and_unknown_runs_neither_break_nor_extend() -> None:
    assert alerts.service_down([artifact(T0, up=False), artifact(T0 + 5 * M)], T0) is None
    history = [
        artifact(T0, up=False),
        artifact(T0 + 5 * M, up=None),
        artifact(T0 + 10 * M, up=False),
    ]
    alert = alerts.service_down(history, T0 + 10 * M)
    assert alert is not None and alert.name == "service_down"
    assert alerts.service_down([artifact(T0, up=None)], T0) is None


@given(
    st.lists(
        st.tuples(st.sampled_from([True, False, None]), st.integers(1, 600)),
        min_size=1,
        max_size=30,
    )
)
def test_no_service_down_without_two_consecutive_failures_two_minutes_apart(
    runs: list[tuple[bool | None, int]],
) -> None:
    """The law: service_down ⇔ the judged runs end in ≥ 2 failures spanning ≥ 2 minutes.

    The oracle works on indexes over the judged runs (None = could not judge), not on the
    rule's own reverse walk."""
    history, t = [], T0
    for ok, gap in runs:
        t += timedelta(seconds=gap)
        history.append(artifact(t, up=ok))
    alert = alerts.service_down(history, t)
    judged = [
        (a.checked_at, ok) for a, (ok, _gap) in zip(history, runs, strict=True) if ok is not None
    ]
    successes = [i for i, (_at, ok) in enumerate(judged) if ok]
    first_failure = successes[-1] + 1 if successes else 0
    failures = judged[first_failure:]
    qualifies = len(failures) >= 2 and failures[-1][0] - failures[0][0] >= timedelta(minutes=2)
    assert (alert is not None and alert.name == "service_down") == qualifies
    if failures and not qualifies:
        assert alert is not None and alert.name == "health_check_failed"
    if not failures:
        assert alert is None


def test_high_queue_needs_every_run_of_30_minutes_and_two_runs() -> None:
    now = T0 + 30 * M
    full = [artifact(T0 + i * 5 * M, pending=12) for i in range(7)]
    alert = alerts.high_queue(full, now)
    assert alert is not None and alert.severity is Severity.WARNING
    assert alert.message.startswith("12 conversations pending")
    dip = [*full[:3], artifact(T0 + 15 * M, pending=10), *full[4:]]
    assert alerts.high_queue(dip, now) is None  # 10 is not more than 10
    assert alerts.high_queue([artifact(now, pending=50)], now) is None  # one run is a blip


def test_slow_response_and_uptime_rules() -> None:
    assert alerts.slow_response(5000.0, T0) is None
    slow = alerts.slow_response(5000.1, T0)
    assert slow is not None and slow.message.startswith("P90 response time over the last hour is")
    assert alerts.uptime_below_target(99.9, "30d", None, T0) is None
    warn = alerts.uptime_below_target(99.89, "30d", None, T0)
    assert warn is not None and warn.severity is Severity.WARNING
    gate = alerts.uptime_below_target(99.99, "7d", 100, T0)
    assert gate is not None and gate.severity is Severity.CRITICAL
    assert alerts.uptime_below_target(100.0, "7d", 100, T0) is None
    assert alerts.uptime_below_target(None, "7d", 100, T0) is None


def test_stale_data_after_three_intervals() -> None:
    interval = 5 * M
    assert alerts.stale_data(T0, T0 + 15 * M, interval) is None
    stale = alerts.stale_data(T0, T0 + 15 * M + timedelta(seconds=1), interval)
    assert stale is not None and stale.since == T0 + 15 * M


def test_monitoring_gap_message() -> None:
    gap = alerts.monitoring_gap(30, 288, 89.6, T0)
    assert gap is not None
    assert gap.message == "monitoring gap: 30 of 288 runs missing — is cron running?"
    assert alerts.monitoring_gap(28, 288, 90.3, T0) is None


def test_alert_text_follows_the_spec_format() -> None:
    history = [
        artifact(T0),
        artifact(T0 + 5 * M, up=False, error="404 Not Found"),
        artifact(T0 + 10 * M, up=False, error="404 Not Found"),
    ]
    alert = alerts.service_down(history, T0 + 10 * M)
    assert alert is not None
    assert alerts.alert_text(alert, T0 + 10 * M).splitlines() == [
        "🔴 CRITICAL Chatwoot Alert: Service Down",
        "Rails health check failed 2 runs in a row (error: 404 Not Found)",
        "Last successful check: 10 minutes ago",
        "Action: Verify the Chatwoot instance at chat.example.com",
    ]
