"""The pure decisions and the message texts: episodes, escalation, the clock, stable ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatwoot_health.alerts import PROACTIVE
from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.notify.decide import EndReason, OpenEpisode, decide
from chatwoot_health.notify.messages import (
    humanize_span,
    instance_host,
    message_id,
    resolve_message,
    start_message,
)

T0 = datetime(2026, 11, 27, 12, 1, tzinfo=UTC)
M = timedelta(minutes=1)
INSTANCE = "https://chat.example.com"


def alert(name: str, since: datetime = T0, severity: Severity = Severity.WARNING) -> Alert:
    return Alert(
        name=name,
        severity=severity,
        title=name.replace("_", " ").title(),
        message=f"{name} happened",
        since=since,
        action="Do something",
    )


def episode(name: str, started: datetime = T0, pushed: bool = True) -> OpenEpisode:
    return OpenEpisode(name, Severity.CRITICAL, name.title(), "was bad", started, pushed)


def test_a_new_alert_starts_once_and_an_open_one_continues() -> None:
    first = decide([], [alert("high_queue")], T0, PROACTIVE)
    assert [(s.alert.name, s.started_at, s.push) for s in first.starts] == [
        ("high_queue", T0, True)
    ]
    again = decide([episode("high_queue")], [alert("high_queue")], T0 + 5 * M, PROACTIVE)
    assert (again.starts, again.ends, again.continuing) == ((), (), ("high_queue",))


def test_a_cleared_alert_resolves_and_is_pushed_only_if_its_start_was() -> None:
    decisions = decide(
        [episode("service_down"), episode("monitoring_gap", pushed=False)], [], T0, PROACTIVE
    )
    ends = {end.episode.name: end for end in decisions.ends}
    assert ends["service_down"].reason is EndReason.RESOLVED and ends["service_down"].push
    assert not ends["monitoring_gap"].push


def test_alerts_not_pushed_are_still_tracked() -> None:
    decisions = decide([], [alert("stale_data"), alert("service_down")], T0, PROACTIVE)
    assert {(s.alert.name, s.push) for s in decisions.starts} == {
        ("stale_data", False),
        ("service_down", True),
    }
    pushed_too = decide([], [alert("stale_data")], T0, PROACTIVE | {"stale_data"})
    assert pushed_too.starts[0].push


def test_escalation_closes_the_warning_quietly() -> None:
    warning = episode("health_check_failed", pushed=True)
    decisions = decide(
        [warning], [alert("service_down", severity=Severity.CRITICAL)], T0 + 2 * M, PROACTIVE
    )
    (end,) = decisions.ends
    assert end.reason is EndReason.ESCALATED and not end.push
    assert [s.alert.name for s in decisions.starts] == ["service_down"]


def test_a_start_is_never_later_than_the_run() -> None:
    decisions = decide([], [alert("high_queue", since=T0 + 9 * M)], T0, PROACTIVE)
    assert decisions.starts[0].started_at == T0


def test_clock_going_backwards_clamps_times_and_transitions_follow_the_alerts_only() -> None:
    last_run = T0 + 10 * M
    earlier = T0 + 3 * M  # the clock went back 7 minutes
    opened = episode("service_down", started=T0 + 8 * M)
    same = decide([opened], [alert("service_down")], earlier, PROACTIVE, last_run=last_run)
    assert (same.starts, same.ends) == ((), ())  # no spurious start or resolve
    assert same.effective_now == last_run and same.clock_went_back_by == 420
    cleared = decide([opened], [], earlier, PROACTIVE, last_run=last_run)
    (end,) = cleared.ends
    assert end.ended_at == last_run >= opened.started_at  # never a negative duration
    fresh = decide(
        [], [alert("high_queue", since=T0 + 9 * M)], earlier, PROACTIVE, last_run=last_run
    )
    assert fresh.starts[0].started_at == T0 + 9 * M  # not after the recorded run
    forward = decide([opened], [], T0 + 20 * M, PROACTIVE, last_run=last_run)
    assert forward.clock_went_back_by is None and forward.effective_now == T0 + 20 * M


def test_an_episode_ending_before_it_started_lasts_zero() -> None:
    late = episode("service_down", started=T0 + 30 * M)
    (end,) = decide([late], [], T0, PROACTIVE).ends
    assert end.ended_at == late.started_at


# ------------------------------------------------------------------------------------ messages


def test_start_message_uses_the_alert_format_and_carries_its_id() -> None:
    start = decide([], [alert("service_down", severity=Severity.CRITICAL)], T0, PROACTIVE).starts[0]
    message = start_message(start, INSTANCE, T0)
    assert message.id == "chatwoot-health/chat.example.com/service_down/2026-11-27T12:01:00Z/start"
    assert message.title == "🔴 CRITICAL Chatwoot Alert: Service Down"
    assert "service_down happened" in message.body and "Action: Do something" in message.body
    assert message.body.endswith(f"id: {message.id}")
    assert message.text.startswith(message.title + "\n")


def test_resolution_says_how_long_it_lasted() -> None:
    opened = OpenEpisode("service_down", Severity.CRITICAL, "Service Down", "down", T0, True)
    (end,) = decide([opened], [], T0 + 7 * M, PROACTIVE).ends
    message = resolve_message(end, INSTANCE)
    assert message.title == (
        "✅ RESOLVED Chatwoot Alert: Service Down — down for 7 minutes (12:01–12:08 UTC)"
    )
    assert message.id.endswith("/service_down/2026-11-27T12:01:00Z/resolve")
    assert message.body.endswith(f"id: {message.id}")


def test_resolution_across_midnight_names_the_dates() -> None:
    opened = OpenEpisode("high_queue", Severity.WARNING, "High Queue", "q", T0, True)
    (end,) = decide([opened], [], T0 + 25 * 60 * M, PROACTIVE).ends
    title = resolve_message(end, INSTANCE).title
    assert "active for 1 day 1 hour (2026-11-27 12:01 – 2026-11-28 13:01 UTC)" in title


def test_ids_and_spans() -> None:
    assert instance_host("https://user:pw@chat.example.com:8443/app?x=1") == "chat.example.com:8443"
    assert message_id("x", "a", T0, "start") == message_id("x", "a", T0, "start")
    assert humanize_span(timedelta(seconds=59)) == "less than a minute"
    assert humanize_span(timedelta(minutes=61)) == "1 hour 1 minute"
    assert humanize_span(-M) == "less than a minute"
