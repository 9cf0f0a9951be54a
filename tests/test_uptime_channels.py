"""Uptime, coverage and channels: pure functions with hand-computed answers."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels import compute_channels, merge_buckets
from chatwoot_health.metrics.uptime import compute_uptime, expected_runs
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.artifact import InboxHour
from chatwoot_health.state import Colour
from tests.factory import T0, artifact, artifact_files, utc

M = timedelta(minutes=1)
H = timedelta(hours=1)
NY = BusinessCalendar(tz=ZoneInfo("America/New_York"))


def test_uptime_counts_runs_not_gaps() -> None:
    window = Window.ending(T0 + H, H)  # 12 runs expected every 5 minutes
    history = [artifact(T0 + i * 5 * M, up=(i != 3)) for i in range(1, 11)]  # 10 runs, 1 down
    history.append(artifact(T0 + 55 * M, up=None))  # no liveness path: neither up nor down
    result = compute_uptime(history, window, 5 * M)
    assert (result.checks_up, result.checks_down, result.runs_seen) == (9, 1, 11)
    assert result.percent == pytest.approx(90.0)  # 9 ÷ (9 + 1)
    assert result.expected_checks == 12
    assert result.coverage_exact == pytest.approx(11 / 12 * 100)
    assert result.coverage_percent == 91.7  # shown to 0.1 %
    assert result.missing_runs == 1
    assert result.status is Colour.RED
    assert result.current == "unknown"
    assert result.last_success_at == T0 + 50 * M


@pytest.mark.parametrize(
    ("percent", "colour"),
    [(99.9, Colour.GREEN), (99.899, Colour.YELLOW), (99.0, Colour.YELLOW), (98.99, Colour.RED)],
)
def test_uptime_colours(percent: float, colour: Colour) -> None:
    from chatwoot_health.metrics.uptime import uptime_colour

    assert uptime_colour(percent) is colour


def test_expected_runs_start_with_monitoring() -> None:
    window = Window.ending(T0 + 24 * H, 24 * H)
    assert expected_runs(window, 5 * M, None) == 288
    # monitoring began 1 h before the end: runs at +0, +5, …, +60 minutes
    assert expected_runs(window, 5 * M, T0 + 23 * H) == 13
    assert expected_runs(window, 5 * M, T0 - 24 * H) == 288


def _hour(
    inbox: int,
    hour: object,
    messages: int,
    avg: float | None = None,
    count: int = 0,
    channel: str = "Channel::Email",
) -> InboxHour:
    return InboxHour(
        inbox_id=inbox,
        channel_type=channel,
        hour=hour,  # type: ignore[arg-type]
        incoming_messages=messages,
        avg_first_response_seconds=avg,
        first_response_count=count,
    )


def test_buckets_merge_latest_run_wins() -> None:
    h = utc(2026, 11, 27, 14)
    first = artifact(h + 10 * M, activity=[_hour(1, h, 3)])
    second = artifact(h + 15 * M, activity=[_hour(1, h, 5)])
    merged = merge_buckets([first, second])
    assert merged[(1, h)].incoming_messages == 5


def test_channel_volume_share_and_weighted_response() -> None:
    h = utc(2026, 11, 27, 14)
    runs = [
        artifact(
            h + 61 * M,
            activity=[
                _hour(1, h, 6, avg=600, count=2),  # email: 2 responses at 10 min
                _hour(1, h + H, 2, avg=1800, count=1),  # and 1 at 30 min
                _hour(2, h, 4, avg=300, count=4, channel="Channel::WebWidget"),
                _hour(3, h, 0, channel="Channel::TwilioSms"),
                _hour(4, h, 4, channel="Channel::Sms"),
            ],
        ),
    ]
    window = Window.ending(h + 61 * M, 24 * H)
    channels = {c.channel: c for c in compute_channels(runs, window, h + 61 * M, NY)}
    email = channels["Email"]
    assert email.messages == 8
    assert email.share_percent == pytest.approx(50.0)  # 8 of 16
    assert email.avg_first_response_minutes == pytest.approx(16.7)  # (2×600 + 1800) / 3 / 60
    assert email.status is Colour.YELLOW
    assert channels["Live chat"].avg_first_response_minutes == pytest.approx(5.0)
    assert channels["SMS"].messages == 4  # Sms and TwilioSms are one channel
    assert channels["SMS"].share_percent == pytest.approx(25.0)


def test_channel_outage_counts_only_observed_business_hours_across_dst() -> None:
    # Sunday 2026-11-01 is the end of DST in New York. Traffic until Friday 2026-10-30 14:00 EDT
    # (18:00 UTC); every later hour observed as zero until Monday 2026-11-02 12:30 EST.
    last = utc(2026, 10, 30, 18)
    hours = [last + H * i for i in range(0, 24 * 3 + 20)]
    buckets = [_hour(1, last, 3)] + [_hour(1, h, 0) for h in hours[1:]]
    now = utc(2026, 11, 2, 17, 30)  # 12:30 EST
    runs = [artifact(now, activity=buckets)]
    result = compute_channels(runs, Window.ending(now, 30 * 24 * H), now, NY)[0]
    # Friday 15:00–17:00 EDT = 2 h; Monday 09:00–12:30 EST = 3.5 h → 5.5 business hours.
    assert result.silent_business_seconds == pytest.approx(5.5 * 3600)
    assert result.possible_outage
    # With two of Monday's hours never observed (a monitoring gap), they are not evidence.
    gap = {utc(2026, 11, 2, 14), utc(2026, 11, 2, 15)}
    holes = [artifact(now, activity=[b for b in buckets if b.hour not in gap])]
    partial = compute_channels(holes, Window.ending(now, 30 * 24 * H), now, NY)[0]
    assert partial.silent_business_seconds == pytest.approx(3.5 * 3600)
    assert not partial.possible_outage


def test_the_fast_read_of_per_inbox_data_changes_nothing(tmp_path: object) -> None:
    """read_window decodes per-inbox data with msgspec; the channel figures must equal those
    from every run parsed in full with the pydantic model."""
    from pathlib import Path

    from chatwoot_health.artifacts.store import ArtifactDirectory, load_artifact, read_window
    from tests.factory import write_all

    directory = Path(str(tmp_path))
    start = utc(2026, 11, 27, 13)
    runs = []
    for i in range(36):  # three hours, every 5 minutes
        at = start + 5 * M * i
        hour = at.replace(minute=0)
        buckets = [_hour(1, hour - H, 2 + i, avg=600, count=1), _hour(1, hour, i, avg=300, count=2)]
        # the last run of the middle hour could not fetch per-inbox data
        runs.append(artifact(at, activity=None if i == 23 else buckets))
    write_all(directory, runs)
    now = start + 3 * H
    window = Window.ending(now, 24 * H)
    every = sorted(
        (load_artifact(p) for p in artifact_files(directory)), key=lambda a: a.checked_at
    )
    read = read_window(ArtifactDirectory(directory), window.start, now).artifacts
    detailed = [a for a in read if getattr(a, "inbox_activity", None) is not None]
    assert len(read) == 36 and len(detailed) == 35  # every run that has per-inbox data
    assert compute_channels(read, window, now, NY) == compute_channels(every, window, now, NY)
