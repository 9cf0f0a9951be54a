"""Approval latencies (``decision_log``) and the human review queue (``approvals_history``).

The queue length at an instant t is the number of rows with requested_at ≤ t and (resolved_at
null or > t): a step function that only changes at requests and resolutions, which is why "stayed
above 10 for 30 minutes" is decided at those change points and never by sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby

from pydantic import BaseModel, ConfigDict

from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.models.report import MedianP90
from chatwoot_health.models.rows import ApprovalRow, DecisionRow
from chatwoot_health.thresholds import (
    APPROVAL_TARGET_MS,
    HIGH_QUEUE_FOR,
    HIGH_QUEUE_PENDING,
    PRIVATE_NOTE_TARGET_MS,
    WEBHOOK_TARGET_MS,
)

ESTIMATED_WAIT_FORMULA = (
    "estimated wait (minutes) = pending approvals × average processing minutes (approvals "
    "resolved in the last 24 h) ÷ max(1, human reviewers online); a missing reviewer count counts "
    "as 1, and without an average there is no estimate"
)


class ApprovalLatencies(BaseModel):
    model_config = ConfigDict(frozen=True)

    webhook_ms: MedianP90
    private_note_ms: MedianP90
    approval_ms: MedianP90
    targets_missed: int


class ReviewQueue(BaseModel):
    model_config = ConfigDict(frozen=True)

    pending: int
    avg_processing_minutes: float | None
    estimated_wait_minutes: float | None
    reviewers_online: int | None
    high_queue: bool


def _latency(values: Sequence[int | None], target_ms: int) -> MedianP90:
    ordered = sorted(value for value in values if value is not None)
    p90 = percentile(ordered, 90)
    return MedianP90(
        median=percentile(ordered, 50),
        p90=p90,
        samples=len(ordered),
        target=float(target_ms),
        missed=p90 is not None and p90 > target_ms,
    )


def latency_summary(rows: Sequence[DecisionRow]) -> ApprovalLatencies:
    """Median and P90 of the three pipeline latencies against the spec's targets.

    A target is judged on the P90, not the median: the median hides the slow tail that one
    customer in ten actually feels, while a P99 swings on a handful of outliers at the few
    hundred samples a week a small team produces. No samples means not missed (nothing to judge).
    """
    webhook = _latency([row.webhook_ms for row in rows], WEBHOOK_TARGET_MS)
    note = _latency([row.private_note_ms for row in rows], PRIVATE_NOTE_TARGET_MS)
    approval = _latency([row.approval_ms for row in rows], APPROVAL_TARGET_MS)
    return ApprovalLatencies(
        webhook_ms=webhook,
        private_note_ms=note,
        approval_ms=approval,
        targets_missed=sum(stat.missed for stat in (webhook, note, approval)),
    )


def _queued_at(row: ApprovalRow, t: datetime) -> bool:
    return row.requested_at <= t and (row.resolved_at is None or row.resolved_at > t)


def queue_length_at(rows: Sequence[ApprovalRow], t: datetime) -> int:
    return sum(1 for row in rows if _queued_at(row, t))


def queue_change_points(
    rows: Sequence[ApprovalRow], start: datetime, end: datetime
) -> list[tuple[datetime, int]]:
    """The queue length at ``start``, then (instant, new length) at each instant in (start, end]
    where a request or resolution happens; simultaneous events make one point, so a length never
    shows a transient value that no instant had."""
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    length = 0
    events: list[tuple[datetime, int]] = []
    for row in rows:
        requested, resolved = row.requested_at, row.resolved_at
        if resolved is not None and resolved <= requested:
            continue  # never in the queue at any instant
        if requested <= start:
            if resolved is None or resolved > start:
                length += 1
                if resolved is not None and resolved <= end:
                    events.append((resolved, -1))
        elif requested <= end:
            events.append((requested, 1))
            if resolved is not None and resolved <= end:
                events.append((resolved, -1))
    events.sort(key=lambda event: event[0])
    points = [(start, length)]
    for instant, group in groupby(events, key=lambda event: event[0]):
        length += sum(delta for _, delta in group)
        points.append((instant, length))
    return points


def queue_stayed_above(
    rows: Sequence[ApprovalRow], threshold: int, start: datetime, end: datetime
) -> bool:
    """Whether the length was > threshold at every instant of [start, end]; the length is constant
    between change points, so checking each of them checks every instant, even a 1-second dip."""
    return all(length > threshold for _, length in queue_change_points(rows, start, end))


def review_queue(
    rows: Sequence[ApprovalRow],
    now: datetime,
    window_24h_start: datetime,
    reviewers_online: int | None,
) -> ReviewQueue:
    """The review queue at ``now``.

    estimated wait (minutes) = pending approvals × average processing minutes (approvals resolved
    in the last 24 h) ÷ max(1, human reviewers online); a missing reviewer count counts as 1, and
    without an average there is no estimate

    The average is wall-clock (resolved_at − requested_at), since the estimate is real waiting
    time, over rows resolved in (window_24h_start, now] (every section's window rule); a row
    resolved before it was requested is bad data and left out.
    """
    durations = [
        (row.resolved_at - row.requested_at).total_seconds() / 60
        for row in rows
        if row.resolved_at is not None
        and window_24h_start < row.resolved_at <= now
        and row.resolved_at >= row.requested_at
    ]
    pending = queue_length_at(rows, now)
    average = sum(durations) / len(durations) if durations else None
    estimate = None
    if average is not None:
        estimate = pending * average / max(1, 1 if reviewers_online is None else reviewers_online)
    return ReviewQueue(
        pending=pending,
        avg_processing_minutes=average,
        estimated_wait_minutes=estimate,
        reviewers_online=reviewers_online,
        high_queue=queue_stayed_above(rows, HIGH_QUEUE_PENDING, now - HIGH_QUEUE_FOR, now),
    )
