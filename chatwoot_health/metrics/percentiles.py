"""Percentiles by linear interpolation between closest ranks.

This is the "inclusive" definition: the same as ``statistics.quantiles(data, n=100,
method="inclusive")``, NumPy's default (``linear``) and PostgreSQL's ``percentile_cont``. For
sorted samples x[0..n-1], the p-th percentile sits at rank h = (n - 1) * p / 100 and is
x[⌊h⌋] + (h - ⌊h⌋) * (x[⌊h⌋ + 1] - x[⌊h⌋]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0 ≤ p ≤ 100) of already sorted values; None when there are none."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    n = len(sorted_values)
    if n == 0:
        return None
    if n == 1:
        return float(sorted_values[0])
    rank = (n - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    fraction = rank - low
    lower = float(sorted_values[low])
    return lower + fraction * (float(sorted_values[high]) - lower)
