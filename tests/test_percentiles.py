"""Percentiles: hand-computed answers and the laws of the inclusive definition."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatwoot_health.metrics.latency import percentiles_of
from chatwoot_health.metrics.percentiles import percentile


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # rank 1.5 → 2 + 0.5 × (3 − 2)
        ([1, 2, 3, 4], 90, 3.7),  # rank 2.7 → 3 + 0.7 × (4 − 3)
        ([15, 20, 35, 40, 50], 90, 46.0),  # rank 3.6 → 40 + 0.6 × 10
        ([15, 20, 35, 40, 50], 50, 35.0),  # rank 2 exactly
        ([15, 20, 35, 40, 50], 0, 15.0),
        ([15, 20, 35, 40, 50], 100, 50.0),
        ([7], 99, 7.0),
    ],
)
def test_hand_computed(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


def test_empty_is_none_and_bad_p_raises() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


def test_p99_needs_100_samples() -> None:
    assert percentiles_of([float(i) for i in range(99)]).p99_ms is None
    full = percentiles_of([float(i) for i in range(100)])
    assert full.p99_ms == pytest.approx(98.0)  # rank 99 × 0.99 = 98.01 → 98.01, rounded to 98.0
    assert full.samples == 100


samples = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=2,
    max_size=200,
)


@given(samples, st.integers(0, 100), st.integers(0, 100))
def test_monotone_in_p(values: list[float], p: int, q: int) -> None:
    ordered = sorted(values)
    low, high = sorted((p, q))
    assert percentile(ordered, low) <= percentile(ordered, high) + 1e-9  # type: ignore[operator]


@given(samples, st.floats(min_value=0, max_value=100))
def test_within_min_and_max(values: list[float], p: float) -> None:
    ordered = sorted(values)
    result = percentile(ordered, p)
    assert result is not None
    assert ordered[0] - 1e-9 <= result <= ordered[-1] + 1e-9


@given(samples)
def test_equals_statistics_quantiles_inclusive(values: list[float]) -> None:
    ordered = sorted(values)
    expected = statistics.quantiles(ordered, n=100, method="inclusive")
    for p in range(1, 100):
        assert percentile(ordered, p) == pytest.approx(expected[p - 1], rel=1e-9, abs=1e-6)
