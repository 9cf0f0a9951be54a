"""Regression tests for the audit of issue #8's numbers and alert texts, each from its smallest
repro: channel buckets a later run lacks, high_queue on too little evidence, expected runs from a
name's whole second, the SLA window's edges, and three alert texts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatwoot_health import alerts
from chatwoot_health.artifacts.store import ArtifactDirectory, read_window
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.sla import compute_sla
from chatwoot_health.metrics.uptime import expected_runs, monitoring_start
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.artifact import InboxHour
from chatwoot_health.models.rows import DecisionRow
from chatwoot_health.report.build import build_report
from chatwoot_health.report.options import ReportOptions
from tests.factory import T0, artifact, write_all

S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
NY = BusinessCalendar(tz=ZoneInfo("America/New_York"))


def _bucket(inbox: int, hour: datetime, messages: int, channel: str) -> InboxHour:
    return InboxHour(inbox_id=inbox, channel_type=channel, hour=hour, incoming_messages=messages)


# --------------------------------------------------------------------------- channels


def test_an_inbox_missing_from_the_last_run_of_the_hour_keeps_its_bucket(tmp_path: Path) -> None:
    """The run at 12:10 saw both inboxes; the last run of the hour (12:55) lacks inbox 2 (its
    report request failed). Inbox 2's hour must still count: the latest run that *has* the
    bucket wins."""
    both = [_bucket(1, T0, 3, "Channel::Email"), _bucket(2, T0, 4, "Channel::WebWidget")]
    runs = [
        artifact(T0 + 10 * M, activity=both),
        artifact(T0 + 55 * M, activity=[_bucket(1, T0, 5, "Channel::Email")]),
    ]
    write_all(tmp_path, runs)
    now = T0 + H
    report = build_report(ReportOptions(artifacts_dir=tmp_path, now=now)).report
    assert {c.channel: c.messages for c in report.channels} == {"Email": 5, "Live chat": 4}
    # The same through the reader alone, as the report's channel horizon reads it.
    read = read_window(ArtifactDirectory(tmp_path), now - H, now, detail_since=now - H)
    assert [len(getattr(a, "inbox_activity", None) or ()) for a in read.artifacts] == [2, 1]


# --------------------------------------------------------------------------- high_queue


def test_high_queue_needs_a_run_thirty_minutes_ago_that_already_showed_it() -> None:
    now = T0 + H
    # 25 minutes of evidence: six runs, all above 10, the first at now − 25 minutes.
    recent = [artifact(now - 5 * M * i, pending=12) for i in range(5, -1, -1)]
    assert alerts.high_queue(recent, now) is None
    # The run at now − 30 minutes already showed it: now it is 30 minutes of evidence.
    alert = alerts.high_queue([artifact(now - 30 * M, pending=11), *recent], now)
    assert alert is not None and alert.since == now - 30 * M
    assert alert.message == (
        "12 conversations pending; more than 10 in every run of the last 30 minutes (7 runs)"
    )
    # … but not when that run showed 10 or fewer.
    assert alerts.high_queue([artifact(now - 30 * M, pending=10), *recent], now) is None


def test_high_queue_after_a_cron_gap_is_not_evidence() -> None:
    now = T0 + 2 * H
    after_gap = [artifact(now - 5 * M, pending=15), artifact(now, pending=15)]
    # Before the gap the queue was small: 5 minutes of evidence.
    assert alerts.high_queue([artifact(now - H, pending=2), *after_gap], now) is None
    # Before the gap it was already high, but an hour of silence says nothing about it.
    assert alerts.high_queue([artifact(now - H, pending=15), *after_gap], now) is None
    # Runs that stopped 35 minutes ago: no evidence about now.
    stopped = [artifact(now - 35 * M - 5 * M * i, pending=15) for i in range(12, -1, -1)]
    assert alerts.high_queue(stopped, now) is None


@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(1, 1200), st.booleans()),
        min_size=1,
        max_size=25,
    )
)
def test_high_queue_only_on_thirty_minutes_of_evidence(
    runs: list[tuple[int, int, bool]],
) -> None:
    """The law: when high_queue fires, some run at or before now − 30 minutes showed > 10, every
    run with counts since then showed > 10, and at least one of them lies in the last 30 minutes."""
    history, t = [], T0
    for pending, gap, counted in runs:
        t += timedelta(seconds=gap)
        history.append(artifact(t, pending=pending if counted else None))
    now = t + timedelta(seconds=runs[0][1] % 600)
    alert = alerts.high_queue(history, now)
    if alert is None:
        return
    counted_runs = [(a.checked_at, a.conversations.pending) for a in history if a.conversations]
    assert alert.since is not None and alert.since <= now - 30 * M
    since = [(at, p) for at, p in counted_runs if at >= alert.since]
    assert all(p > 10 for _at, p in since)
    assert since[0][0] == alert.since
    assert any(at > now - 30 * M for at, _p in since)


# --------------------------------------------------------------------------- expected runs


def test_a_report_within_a_second_of_the_cron_step_expects_no_extra_run(tmp_path: Path) -> None:
    """Monitoring began at 12:00:00.7 (the name says 12:00:00); runs every 5 minutes. At
    12:20:00.5 four runs exist and four are expected: the run of 12:20:00.7 is still to come."""
    first = T0 + timedelta(milliseconds=700)
    write_all(tmp_path, [artifact(first + 5 * M * i) for i in range(5)])
    at = T0 + 20 * M + timedelta(milliseconds=500)
    report = build_report(ReportOptions(artifacts_dir=tmp_path, now=at)).report
    assert (report.uptime.runs_seen, report.uptime.expected_checks) == (4, 4)
    assert report.uptime.coverage_percent == 100.0
    assert "monitoring_gap" not in {a.name for a in report.alerts}
    # A moment later the fifth run is due, and seen.
    later = build_report(ReportOptions(artifacts_dir=tmp_path, now=first + 20 * M)).report
    assert (later.uptime.runs_seen, later.uptime.expected_checks) == (5, 5)


def test_monitoring_start_is_the_first_runs_exact_instant() -> None:
    first = T0 + timedelta(milliseconds=700)
    runs = [artifact(first), artifact(first + 5 * M)]
    assert monitoring_start(T0, runs) == first
    assert monitoring_start(None, runs) is None
    # The oldest file was not read (older than every window): its name is all there is.
    assert monitoring_start(T0 - 40 * 24 * H, runs) == T0 - 40 * 24 * H
    window = Window.ending(T0 + 20 * M + timedelta(milliseconds=500), 24 * H)
    assert expected_runs(window, 5 * M, first) == 4
    assert expected_runs(window, 5 * M, T0) == 5  # what the name's second alone gave


# --------------------------------------------------------------------------- SLA window


def _row(id_: int, received: datetime, wait: timedelta = 5 * M) -> DecisionRow:
    return DecisionRow(
        id=id_,
        conversation_id=id_,
        message_received_at=received,
        decided_at=received + wait,
    )


def test_sla_rows_use_the_window_rule_of_every_section() -> None:
    """(start, end], like the artifacts: a row received exactly at the start belongs to the
    window before, one received exactly at the end to this one."""
    end = T0 + 8 * H  # Friday 15:00 in New York
    window = Window.ending(end, 7 * 24 * H)
    rows = [_row(1, window.start, wait=H), _row(2, window.start + S), _row(3, end - 10 * M)]
    rows.append(_row(4, end))
    sla = compute_sla(rows, window.start, window.end, end + H, NY, timedelta(minutes=15))
    assert (sla.met, sla.total, sla.breaches) == (3, 3, 0)  # the breach lies in the window before
    assert [window.contains(row.message_received_at) for row in rows] == [
        False,
        True,
        True,
        True,
    ]


# --------------------------------------------------------------------------- texts


def test_stale_data_says_how_old_the_latest_artifact_is() -> None:
    alert = alerts.stale_data(T0, T0 + 119 * M, 5 * M)
    assert alert is not None
    assert alert.message == ("The latest artifact is 119 minutes old (more than 3 intervals of 5m)")


@pytest.mark.parametrize(("failures", "runs"), [(1, "the latest run"), (3, "the latest 3 runs")])
def test_health_check_failed_says_how_many_runs_failed(failures: int, runs: str) -> None:
    """Three failures 30 seconds apart are not yet an outage (under 2 minutes), and the text
    says three, not "once"."""
    history = [artifact(T0)] + [artifact(T0 + 30 * S * (i + 1), up=False) for i in range(failures)]
    alert = alerts.service_down(history, history[-1].checked_at)
    assert alert is not None and alert.name == "health_check_failed"
    assert alert.message.startswith(f"Rails health check failed in {runs} (error: ")


# --------------------------------------------------------------------------- judged exactly


def test_targets_are_judged_on_exact_values_not_on_the_rounded_display() -> None:
    """A P90 of 5000.04 ms shows as 5000.0 but misses the 5 s target; a first response of
    15.04 minutes shows as 15.0 but is over the 15-minute target (yellow, not green)."""
    from chatwoot_health.metrics.channels import compute_channels
    from chatwoot_health.metrics.latency import compute_response_time

    window = Window.ending(T0 + H, H)
    response = compute_response_time([artifact(T0 + 30 * M, ms=5000.04)], window)
    assert (response.overall.p90_ms, response.health_target_missed) == (5000.0, True)

    bucket = InboxHour(
        inbox_id=1,
        channel_type="Channel::Email",
        hour=T0,
        incoming_messages=1,
        avg_first_response_seconds=15.04 * 60,
        first_response_count=1,
    )
    runs = [artifact(T0 + 30 * M, activity=[bucket])]
    (email,) = compute_channels(runs, window, T0 + H, NY)
    assert (email.avg_first_response_minutes, email.status.value) == (15.0, "yellow")
