"""The Prometheus metrics of a report: every metric name defined once, here.

:func:`families` is pure (a report in, named gauges out); :func:`exposition` writes them in the
text exposition format through ``prometheus-client`` (imported only when called). ``serve``'s
``/metrics`` uses both; a ``report --format prometheus`` can reuse them unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from chatwoot_health.models.report import Report

PREFIX = "chatwoot_health"
UP = f"{PREFIX}_up"
PROBE_DURATION = f"{PREFIX}_probe_duration_seconds"
UPTIME_RATIO = f"{PREFIX}_uptime_ratio"
COVERAGE_RATIO = f"{PREFIX}_coverage_ratio"
PENDING = f"{PREFIX}_pending_conversations"
SLA_COMPLIANCE = f"{PREFIX}_sla_compliance_ratio"
OPEN_ALERTS = f"{PREFIX}_open_alerts"
LAST_RUN_AGE = f"{PREFIX}_last_run_age_seconds"

HELP = {
    UP: "1 when the latest run found Chatwoot's liveness probe up, 0 when down.",
    PROBE_DURATION: "Duration of each probe in the latest run, in seconds.",
    UPTIME_RATIO: "Share of judged runs that were up over the window (0-1).",
    COVERAGE_RATIO: "Runs seen / runs expected over the window, capped at 1.",
    PENDING: "Pending conversations in the latest run that fetched them.",
    SLA_COMPLIANCE: "Business-hours SLA compliance (met / decided within target), 0-1.",
    OPEN_ALERTS: "Active alerts by severity.",
    LAST_RUN_AGE: "Seconds since the latest run.",
}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Family:
    """One gauge and its samples (labels → value)."""

    name: str
    help: str
    samples: tuple[tuple[Labels, float], ...]


def _family(name: str, samples: Sequence[tuple[Labels, float | None]]) -> Family | None:
    kept = tuple((labels, float(value)) for labels, value in samples if value is not None)
    return Family(name, HELP[name], kept) if kept else None


def families(
    report: Report,
    windows: Sequence[tuple[str, Report]],
    probe_ms: Mapping[str, float],
    now: datetime,
) -> list[Family]:
    """The gauges of ``report`` (the default report), the uptime and coverage of each of
    ``windows`` (label, report), and the latest run's probe durations (milliseconds)."""
    uptime = report.uptime
    up = {"up": 1.0, "down": 0.0}.get(uptime.current)
    ratios: list[tuple[Labels, float | None]] = []
    coverage: list[tuple[Labels, float | None]] = []
    for label, item in windows:
        # The exact figures when the report was built here; the rounded ones when it was read
        # back from its JSON (which leaves the exact ones out).
        exact = (
            item.uptime.percent_exact
            if item.uptime.percent_exact is not None
            else (item.uptime.percent)
        )
        ratios.append(((("window", label),), None if exact is None else exact / 100))
        seen = item.uptime.coverage_exact
        seen = seen if seen is not None else item.uptime.coverage_percent
        coverage.append(((("window", label),), None if seen is None else min(1.0, seen / 100)))
    sla = report.sla
    compliance = None
    if sla.met is not None and sla.total:
        compliance = sla.met / sla.total
    severities = Counter(alert.severity.value for alert in report.alerts)
    age = None
    if uptime.last_checked_at is not None:
        age = max(0.0, (now - uptime.last_checked_at).total_seconds())
    built = [
        _family(UP, [((), up)]),
        _family(
            PROBE_DURATION,
            [((("probe", name),), ms / 1000) for name, ms in sorted(probe_ms.items())],
        ),
        _family(UPTIME_RATIO, ratios),
        _family(COVERAGE_RATIO, coverage),
        _family(PENDING, [((), report.conversations.pending)]),
        _family(SLA_COMPLIANCE, [((), compliance)]),
        _family(
            OPEN_ALERTS,
            [((("severity", name),), severities.get(name, 0)) for name in ("warning", "critical")],
        ),
        _family(LAST_RUN_AGE, [((), age)]),
    ]
    return [family for family in built if family is not None]


def exposition(items: Sequence[Family]) -> tuple[bytes, str]:
    """The text exposition format and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector

    class _Snapshot(Collector):
        def collect(self) -> Iterator[Metric]:
            for item in items:
                names = sorted({key for labels, _ in item.samples for key, _ in labels})
                gauge = GaugeMetricFamily(item.name, item.help, labels=names)
                for labels, value in item.samples:
                    values = dict(labels)
                    gauge.add_metric([values[key] for key in names], value)
                yield gauge

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    return generate_latest(registry), CONTENT_TYPE_LATEST
