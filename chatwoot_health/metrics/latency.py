"""Response time: percentiles of successful probe durations (failures count against uptime)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.report import PercentilesOut
from chatwoot_health.thresholds import MIN_SAMPLES_P99, RESPONSE_TIME_TARGET_MS


def percentiles_of(values: list[float]) -> PercentilesOut:
    """Median, P90 and P99 (P99 only with at least :data:`MIN_SAMPLES_P99` samples)."""
    values = sorted(values)
    return percentiles_out(
        len(values), percentile(values, 50), percentile(values, 90), percentile(values, 99)
    )


def percentiles_out(
    samples: int, median: float | None, p90: float | None, p99: float | None
) -> PercentilesOut:
    """The section's figures from exact percentiles (computed here or by the store's SQL)."""
    return PercentilesOut(
        median_ms=_round(median),
        p90_ms=_round(p90),
        p99_ms=_round(p99) if samples >= MIN_SAMPLES_P99 else None,
        samples=samples,
        p90_exact_ms=p90,
    )


@dataclass(frozen=True)
class ResponseTime:
    overall: PercentilesOut
    by_check: dict[str, PercentilesOut] = field(default_factory=dict)

    @property
    def health_target_missed(self) -> bool:
        p90 = self.overall.p90_exact_ms
        return p90 is not None and p90 > RESPONSE_TIME_TARGET_MS


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def successful_durations(artifacts: Sequence[ArtifactCore]) -> dict[str, list[float]]:
    durations: dict[str, list[float]] = defaultdict(list)
    for name, duration in chain.from_iterable(map(_LATENCIES, artifacts)):
        durations[name].append(duration)
    return durations


_LATENCIES = attrgetter("latencies")


def compute_response_time(artifacts: Sequence[ArtifactCore], window: Window) -> ResponseTime:
    by_name = successful_durations(window.select(artifacts))
    for values in by_name.values():
        values.sort()
    # ~70,000 samples over 30 days: sorted per check first, the pooled list is a few sorted runs,
    # which sorting merges in a fraction of the time a shuffled list takes
    pooled = list(chain.from_iterable(by_name.values()))
    return ResponseTime(
        overall=percentiles_of(pooled),
        by_check={name: percentiles_of(values) for name, values in sorted(by_name.items())},
    )
