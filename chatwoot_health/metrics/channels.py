"""Per-channel volume and first-response time from the hourly ``inbox_activity`` buckets.

Runs overlap (each fetches the previous and the current hour), so buckets are merged by
(inbox, hour), the latest run that has the bucket winning: no hour is counted twice, a single
missed run loses nothing, and neither does a run that lacks an inbox.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from chatwoot_health.artifacts.fast import ArtifactCore, Bucket, buckets_of
from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels_common import channel_label
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.report import ChannelOut
from chatwoot_health.state import Colour
from chatwoot_health.thresholds import (
    CHANNEL_OUTAGE_AFTER,
    RESPONSE_TARGET_MINUTES,
    SILENCE_LOOKBACK,
    SLOW_CHANNEL_MINUTES,
)

HOUR = timedelta(hours=1)


def channel_horizon(window: Window, now: datetime) -> datetime:
    """How far back channel data is read: the window, and for silence at least a week (a
    channel quiet for longer is still news)."""
    return min(window.start, now - SILENCE_LOOKBACK)


def merge_buckets(
    artifacts: Sequence[ArtifactCore], since: datetime | None = None
) -> dict[tuple[int, datetime], Bucket]:
    """(inbox_id, hour) → bucket, the latest run that has it winning (``artifacts`` is oldest
    first)."""
    # Only runs checked after ``since`` are read (each run carries the previous and the current
    # hour, so ``since`` an hour before the first hour needed is enough); runs read without
    # per-inbox data (older than the channel horizon) have no buckets.
    # A run's buckets go in with one C-level update (~70,000 buckets over a week of runs).
    merged: dict[tuple[int, datetime], Bucket] = {}
    for artifact in artifacts:
        if since is not None and artifact.checked_at < since:
            continue
        if buckets := buckets_of(artifact):
            merged.update(zip(map(_KEY, buckets), buckets, strict=True))
    return merged


_KEY = operator.attrgetter("inbox_id", "hour")


def response_colour(minutes: float | None, target: float = RESPONSE_TARGET_MINUTES) -> Colour:
    if minutes is None:
        return Colour.GREY
    if minutes <= target:
        return Colour.GREEN
    if minutes <= SLOW_CHANNEL_MINUTES:
        return Colour.YELLOW
    return Colour.RED


def compute_channels(
    artifacts: Sequence[ArtifactCore],
    window: Window,
    now: datetime,
    calendar: BusinessCalendar,
    target_minutes: float = RESPONSE_TARGET_MINUTES,
) -> list[ChannelOut]:
    merged = merge_buckets(artifacts, since=channel_horizon(window, now) - HOUR)
    # The current hour was observed only up to the latest run that reported per-inbox data.
    observed_until = max((a.checked_at for a in artifacts if buckets_of(a)), default=now)
    return channels_of(merged.values(), observed_until, window, now, calendar, target_minutes)


def channels_of(
    merged: Iterable[Bucket],
    observed_until: datetime,
    window: Window,
    now: datetime,
    calendar: BusinessCalendar,
    target_minutes: float = RESPONSE_TARGET_MINUTES,
) -> list[ChannelOut]:
    """The channels of merged buckets (one per (inbox, hour), see :func:`merge_buckets`) —
    from the runs, or from ``check``'s digest of them (:mod:`chatwoot_health.artifacts.recent`).
    Every sum is independent of the buckets' order, so both give the same numbers."""
    by_channel: dict[str, list[Bucket]] = defaultdict(list)
    history: dict[str, list[Bucket]] = defaultdict(list)
    for bucket in merged:
        if bucket.hour > window.end:
            continue
        label = channel_label(bucket.channel_type)
        history[label].append(bucket)
        if window.start <= bucket.hour:
            by_channel[label].append(bucket)
    total = sum(b.incoming_messages for buckets in by_channel.values() for b in buckets)
    result: list[ChannelOut] = []
    until = min(now, observed_until)
    silences = {label: _silence(buckets, until, calendar) for label, buckets in history.items()}
    # A channel silent through the whole window still appears: its silence is the news.
    for label in set(by_channel) | {label for label, silent in silences.items() if silent}:
        buckets = by_channel.get(label, [])
        messages = sum(b.incoming_messages for b in buckets)
        events = sum(
            b.first_response_count for b in buckets if b.avg_first_response_seconds is not None
        )
        weighted = math.fsum(
            (b.avg_first_response_seconds or 0) * b.first_response_count for b in buckets
        )
        avg_seconds = weighted / events if events else None
        last_hour = _last_message_hour(history[label])
        silent = silences[label]
        outage = silent > CHANNEL_OUTAGE_AFTER.total_seconds()
        result.append(
            ChannelOut(
                channel=label,
                messages=messages,
                share_percent=round(messages / total * 100, 1) if total else None,
                avg_first_response_minutes=None
                if avg_seconds is None
                else round(avg_seconds / 60, 1),
                target_minutes=target_minutes,
                responses=events,
                last_message_hour=last_hour,
                silent_business_hours=round(silent / 3600, 2),
                status=Colour.RED
                if outage
                else response_colour(
                    None if avg_seconds is None else avg_seconds / 60, target_minutes
                ),
                avg_first_response_seconds=avg_seconds,
                silent_business_seconds=silent,
                possible_outage=outage and last_hour is not None,
            )
        )
    result.sort(key=lambda c: (-c.messages, c.channel))
    return result


def _last_message_hour(buckets: list[Bucket]) -> datetime | None:
    hours = [b.hour for b in buckets if b.incoming_messages > 0]
    return max(hours) if hours else None


def _silence(buckets: list[Bucket], until: datetime, calendar: BusinessCalendar) -> float:
    """Business seconds of *observed* silence since the channel's last message (in ``buckets``),
    up to ``until``, the last observation.

    Only hours that every inbox of the channel reported (as zero) count; an hour nobody
    observed (a monitoring gap) is not evidence of an outage.
    """
    last = _last_message_hour(buckets)
    if last is None:
        return 0.0
    inboxes = {b.inbox_id for b in buckets}
    hours: dict[datetime, set[int]] = defaultdict(set)
    for bucket in buckets:
        if bucket.hour > last:
            hours[bucket.hour].add(bucket.inbox_id)
    return math.fsum(
        calendar.business_seconds(hour, min(hour + HOUR, until))
        for hour, seen in hours.items()
        if seen >= inboxes
    )
