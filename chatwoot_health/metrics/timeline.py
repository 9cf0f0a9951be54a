"""The timeline: the uptime bars and the latency trend of the report's window, hourly up to 7
days and daily beyond. One home for the bars' step and count, which the runs of the files
(:func:`bars_of`) and the store's aggregates (``report.stored``, in SQL) both cut the window by,
so the two give the same bars."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import timedelta
from itertools import chain
from operator import attrgetter, itemgetter

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.report import TimelineBucket

HOUR = timedelta(hours=1)
_CHECKED_AT = attrgetter("checked_at")
_LIVENESS = attrgetter("liveness")
_LATENCIES = attrgetter("latencies")
_DURATION = itemgetter(1)

#: Each bar's (up, down).
Counts = list[tuple[int, int]]
#: Each bar's (median, P90) of its successful checks' durations, unrounded; None without any.
Figures = list[tuple[float | None, float | None]]


def bar_step(window: Window) -> timedelta:
    """The timeline's bars: hourly up to 7 days, daily beyond."""
    return HOUR if window.length <= timedelta(days=7) else timedelta(days=1)


def slot_count(window: Window, step: timedelta) -> int:
    """How many slots (or bars) of ``step`` cover the window."""
    return max(1, int(-(-window.length // step)))


def bars_of(artifacts: Sequence[ArtifactCore], window: Window) -> tuple[Counts, Figures]:
    """Each bar's counts and percentiles from the runs (every run up to the window's end, oldest
    first)."""
    step = bar_step(window)
    count = slot_count(window, step)
    selected = window.select(artifacts)
    # The runs are oldest first: each bar's runs are one slice, cut where the next bar starts (a
    # run exactly there is the next bar's; the last bar takes the rest), with no arithmetic of
    # times per run.
    cuts = [
        bisect_left(selected, window.start + step * index, key=_CHECKED_AT)
        for index in range(1, count)
    ]
    counts: Counts = []
    figures: Figures = []
    for low, high in zip([0, *cuts], [*cuts, len(selected)], strict=True):
        bar = selected[low:high]
        states = list(map(_LIVENESS, bar))
        counts.append((states.count("up"), states.count("down")))
        values = sorted(map(_DURATION, chain.from_iterable(map(_LATENCIES, bar))))
        figures.append((percentile(values, 50), percentile(values, 90)))
    return counts, figures


def timeline_of(
    window: Window, interval: timedelta, counts: Counts, figures: Figures
) -> list[TimelineBucket]:
    """The bars of ``window`` with these counts and percentiles (one of each per bar): up, down,
    the runs expected, the median and P90 rounded to 0.1 ms."""
    step = bar_step(window)
    result = []
    for index, ((up, down), (median, p90)) in enumerate(zip(counts, figures, strict=True)):
        start = window.start + step * index
        end = min(start + step, window.end)
        result.append(
            TimelineBucket(
                start=start,
                end=end,
                up=up,
                down=down,
                expected=int((end - start) / interval),
                median_ms=None if median is None else round(median, 1),
                p90_ms=None if p90 is None else round(p90, 1),
            )
        )
    return result
