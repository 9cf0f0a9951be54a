"""Approval latencies and the review queue, with hand-computed answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from chatwoot_health.metrics.approvals import (
    ESTIMATED_WAIT_FORMULA,
    latency_summary,
    queue_change_points,
    queue_length_at,
    queue_stayed_above,
    review_queue,
)
from chatwoot_health.models.report import MedianP90
from chatwoot_health.models.rows import ApprovalRow, DecisionRow

T0 = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def decision(
    i: int, webhook: int | None, note: int | None = None, approval: int | None = None
) -> DecisionRow:
    return DecisionRow(
        id=i,
        conversation_id=i,
        message_received_at=T0,
        webhook_ms=webhook,
        private_note_ms=note,
        approval_ms=approval,
    )


_ids = iter(range(1, 1_000_000))


def approval(requested: datetime, resolved: datetime | None = None) -> ApprovalRow:
    return ApprovalRow(id=next(_ids), requested_at=requested, resolved_at=resolved)


# -- latencies ------------------------------------------------------------------------------------


def test_latency_summary() -> None:
    rows = [
        decision(1, 100, 1000),
        decision(2, 200, 2000),
        decision(3, 300),
        decision(4, 400),
        decision(5, 1500),
        decision(6, None),  # ignored
    ]
    result = latency_summary(rows)
    # webhook sorted [100, 200, 300, 400, 1500]: median = 300; P90 rank 4 × 0.9 = 3.6 →
    # 400 + 0.6 × (1500 − 400) = 1060 > 1000 → missed.
    assert result.webhook_ms.model_dump() == {
        "median": 300.0,
        "p90": pytest.approx(1060.0),
        "samples": 5,
        "target": 1000.0,
        "missed": True,
    }
    # private note [1000, 2000]: median 1500; P90 rank 0.9 → 1000 + 0.9 × 1000 = 1900 ≤ 3000.
    assert result.private_note_ms.model_dump() == {
        "median": 1500.0,
        "p90": pytest.approx(1900.0),
        "samples": 2,
        "target": 3000.0,
        "missed": False,
    }
    # approval: no samples → nothing to judge, not missed.
    assert result.approval_ms == MedianP90(
        median=None, p90=None, samples=0, target=2000.0, missed=False
    )
    assert result.targets_missed == 1


def test_latency_target_is_judged_on_p90_not_median() -> None:
    # approval [100 × 8, 5000, 5000]: median 100 (fine), P90 rank 9 × 0.9 = 8.1 → 5000 > 2000.
    rows = [decision(i, None, None, 100) for i in range(8)] + [
        decision(8, None, None, 5000),
        decision(9, None, None, 5000),
    ]
    result = latency_summary(rows)
    assert result.approval_ms.median == 100.0
    assert result.approval_ms.p90 == pytest.approx(5000.0)
    assert result.approval_ms.missed
    assert result.targets_missed == 1
    # A P90 exactly at the target is not a miss: webhook [1000] → P90 = 1000.
    assert not latency_summary([decision(1, 1000)]).webhook_ms.missed
    assert latency_summary([]).targets_missed == 0


# -- queue length ---------------------------------------------------------------------------------


def test_queue_length_at_boundaries() -> None:
    rows = [
        approval(at(0), at(10)),
        approval(at(5)),  # unresolved
        approval(at(20), at(20)),  # resolved at its request: never queued
    ]
    assert queue_length_at(rows, at(-1)) == 0
    assert queue_length_at(rows, at(0)) == 1  # requested_at ≤ t counts
    assert queue_length_at(rows, at(5)) == 2
    assert queue_length_at(rows, at(10)) == 1  # resolved_at == t no longer counts
    assert queue_length_at(rows, at(20)) == 1
    assert queue_length_at([], at(0)) == 0


def test_change_points_with_simultaneous_events() -> None:
    rows = [
        approval(at(-10), at(5)),  # queued at start, leaves at 5
        approval(at(-5)),  # queued at start, stays
        approval(at(5), at(8)),  # arrives at 5 as the first leaves: one point at 5, length 2
        approval(at(5)),  # also at 5 → length 3 at 5 (−1 + 2)
        approval(at(8), at(30)),  # at 8 one leaves and one arrives: length 3, still a point
        approval(at(12), at(12)),  # never queued: no point
        approval(at(25)),  # after the end: no point
    ]
    assert queue_change_points(rows, at(0), at(20)) == [
        (at(0), 2),  # the length at start
        (at(5), 3),  # 2 − 1 + 2
        (at(8), 3),  # 3 − 1 + 1
    ]


def test_change_points_include_the_end_and_exclude_the_start() -> None:
    rows = [approval(at(0), at(20)), approval(at(-5), at(0))]
    # At 0 one arrives and one leaves: the start point already shows that (length 1); at 20,
    # the end itself, the queue empties.
    assert queue_change_points(rows, at(0), at(20)) == [(at(0), 1), (at(20), 0)]
    with pytest.raises(ValueError):
        queue_change_points(rows, at(20), at(0))


def test_change_points_agree_with_queue_length_at() -> None:
    rows = [approval(at(i), at(i + 7) if i % 3 else None) for i in range(-15, 40, 2)] + [
        approval(at(4), at(4)),
        approval(at(9), at(3)),
    ]
    points = queue_change_points(rows, at(0), at(30))
    for instant, length in points:
        assert queue_length_at(rows, instant) == length
    # Between change points the length is constant.
    for (a, length), (b, _) in pairwise(points):
        assert queue_length_at(rows, a + (b - a) / 2) == length


# -- high queue -----------------------------------------------------------------------------------

NOW = at(60)
WINDOW_START = NOW - timedelta(minutes=30)


def _eleven_waiting() -> list[ApprovalRow]:
    return [approval(at(-120 + i)) for i in range(11)]  # all requested long before the window


def test_stayed_above_true() -> None:
    rows = _eleven_waiting()
    # Halfway through, one leaves and another arrives in the same instant: 11 throughout.
    rows[0] = approval(at(-120), at(45))
    rows.append(approval(at(45)))
    assert queue_stayed_above(rows, 10, WINDOW_START, NOW)


def test_a_one_second_dip_makes_it_false() -> None:
    rows = _eleven_waiting()
    dip = at(45) + timedelta(seconds=20)  # 10:45:20, between two whole minutes
    rows[0] = approval(at(-120), dip)  # 11 → 10 at 10:45:20 …
    rows.append(approval(dip + timedelta(seconds=1)))  # … and back to 11 at 10:45:21
    assert not queue_stayed_above(rows, 10, WINDOW_START, NOW)
    # Sampling once a minute would have seen 11 every time and missed the dip.
    assert all(queue_length_at(rows, WINDOW_START + timedelta(minutes=m)) == 11 for m in range(31))


def test_stayed_above_needs_the_whole_window() -> None:
    rows = [*_eleven_waiting()[:10], approval(WINDOW_START + timedelta(seconds=1))]
    # 10 at the window's start, 11 a second later: not above 10 at every instant.
    assert not queue_stayed_above(rows, 10, WINDOW_START, NOW)
    # Dropping to 10 at exactly now also counts (the window is closed at both ends).
    rows = _eleven_waiting()
    rows[0] = approval(at(-120), NOW)
    assert not queue_stayed_above(rows, 10, WINDOW_START, NOW)


# -- review queue ---------------------------------------------------------------------------------


def _history() -> list[ApprovalRow]:
    return [
        approval(at(-30), at(-20)),  # 10 min, resolved within 24 h
        approval(at(-60), at(-40)),  # 20 min
        approval(at(0), at(30)),  # 30 min
        approval(NOW - timedelta(hours=26), NOW - timedelta(hours=25) + timedelta(minutes=40)),
        # ^ 100 min but resolved 24 h 20 min ago: outside the average
        approval(at(10)),  # pending
        approval(at(20)),  # pending
        approval(at(50), NOW + timedelta(minutes=5)),  # resolved after now: pending at now
        approval(NOW + timedelta(minutes=1)),  # requested after now: not pending
    ]


def test_review_queue_numbers() -> None:
    rq = review_queue(_history(), NOW, NOW - timedelta(hours=24), reviewers_online=2)
    assert rq.pending == 3
    assert rq.avg_processing_minutes == 20.0  # (10 + 20 + 30) / 3
    assert rq.estimated_wait_minutes == 30.0  # 3 × 20 ÷ 2
    assert rq.reviewers_online == 2
    assert rq.high_queue is False


@pytest.mark.parametrize(("reviewers", "estimate"), [(None, 60.0), (0, 60.0), (1, 60.0), (3, 20.0)])
def test_review_queue_reviewer_counts(reviewers: int | None, estimate: float) -> None:
    # 3 pending × 20 min ÷ max(1, reviewers), None counting as 1.
    rq = review_queue(_history(), NOW, NOW - timedelta(hours=24), reviewers)
    assert rq.estimated_wait_minutes == estimate


def test_review_queue_without_history() -> None:
    rq = review_queue([approval(at(0))], NOW, NOW - timedelta(hours=24), 2)
    assert (rq.pending, rq.avg_processing_minutes, rq.estimated_wait_minutes) == (1, None, None)
    empty = review_queue([], NOW, NOW - timedelta(hours=24), None)
    assert (empty.pending, empty.estimated_wait_minutes, empty.high_queue) == (0, None, False)


def test_review_queue_high_queue() -> None:
    rows = _eleven_waiting()
    rq = review_queue(rows, NOW, NOW - timedelta(hours=24), 1)
    assert rq.pending == 11
    assert rq.high_queue is True


def test_formula_is_documented_verbatim() -> None:
    def squash(text: str) -> str:
        return re.sub(r"\s+", " ", text).strip()

    assert review_queue.__doc__ is not None
    assert squash(ESTIMATED_WAIT_FORMULA) in squash(review_queue.__doc__)
