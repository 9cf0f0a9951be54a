"""Response time: percentiles of successful probe durations (failures count against uptime)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.metrics.percentiles import percentile
from chatwoot_health.metrics.window import Window

HEALTH_CHECK_TARGET_MS = 5000.0
MIN_SAMPLES_P99 = 100


@dataclass(frozen=True)
class Percentiles:
    """Shown to 0.1 ms; the target is judged on the exact P90 (5000.04 ms misses 5 s)."""

    median_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    samples: int
    p90_exact_ms: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        values = sorted(values)
        p90 = percentile(values, 90)
        return cls(
            median_ms=_round(percentile(values, 50)),
            p90_ms=_round(p90),
            p99_ms=_round(percentile(values, 99)) if len(values) >= MIN_SAMPLES_P99 else None,
            samples=len(values),
            p90_exact_ms=p90,
        )


@dataclass(frozen=True)
class ResponseTime:
    overall: Percentiles
    by_check: dict[str, Percentiles] = field(default_factory=dict)

    @property
    def health_target_missed(self) -> bool:
        p90 = self.overall.p90_exact_ms
        return p90 is not None and p90 > HEALTH_CHECK_TARGET_MS


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def successful_durations(artifacts: Sequence[ArtifactCore]) -> dict[str, list[float]]:
    durations: dict[str, list[float]] = defaultdict(list)
    for artifact in artifacts:
        for name, duration in artifact.latencies:
            durations[name].append(duration)
    return durations


def compute_response_time(artifacts: Sequence[ArtifactCore], window: Window) -> ResponseTime:
    by_name = successful_durations(window.select(artifacts))
    pooled = [value for values in by_name.values() for value in values]
    return ResponseTime(
        overall=Percentiles.of(pooled),
        by_check={name: Percentiles.of(values) for name, values in sorted(by_name.items())},
    )
