"""Benchmark: compute_sla over 50,000 decision_log rows spread over 7 days (~5 % pending).

Standalone: ``python benchmarks/bench_sla_compute.py [--rows N] [--repeat R]``. Prints the best of
R runs of compute_sla (with a fresh calendar each run, so its interval cache is built inside the
timing) next to a naive wall-clock baseline (decided_at − received_at for every row), so the cost of
counting business hours shows up as a ratio. Fetching is measured elsewhere; this is compute only.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from _harness import best_of, machine

from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.sla import compute_sla
from chatwoot_health.models.rows import DecisionRow

TZ = ZoneInfo("America/New_York")
END = datetime(2026, 3, 12, 0, 0, tzinfo=UTC)  # a window that contains the 2026-03-08 DST change
START = END - timedelta(days=7)
CHANNELS = ("Channel::Email", "Channel::WebWidget", "Channel::Sms", "email", "chat", None)


def make_rows(count: int, seed: int = 20260312) -> list[DecisionRow]:
    rng = random.Random(seed)
    span = (END - START).total_seconds()
    rows = []
    for i in range(count):
        received = START + timedelta(seconds=rng.uniform(0, span))
        decided = None
        if rng.random() >= 0.05:
            # Mostly minutes, sometimes hours, now and then days (across nights and weekends).
            draw = rng.random()
            mean = 600 if draw < 0.7 else 7200 if draw < 0.95 else 2 * 86400
            delay = rng.expovariate(1 / mean)
            decided = received + timedelta(seconds=delay)
        rows.append(
            DecisionRow(
                id=i + 1,
                conversation_id=rng.randrange(1, count // 2),
                customer_name=f"Customer {i}",
                channel=rng.choice(CHANNELS),
                message_received_at=received,
                decided_at=decided,
                reason=rng.choice((None, "slow", "night", "escalated")),
            )
        )
    return rows


def naive_wall_clock(rows: Sequence[DecisionRow], now: datetime) -> float:
    total = 0.0
    for row in rows:
        total += ((row.decided_at or now) - row.message_received_at).total_seconds()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(machine())

    began = time.perf_counter()
    rows = make_rows(args.rows)
    print(f"generated {len(rows):,} rows in {time.perf_counter() - began:.2f} s (not timed below)")
    now = END  # the report runs at the end of its window
    target = timedelta(minutes=15)

    result = compute_sla(rows, START, END, now, BusinessCalendar(tz=TZ), target)
    print(
        f"result: {result.compliance_percent:.1f} % ({result.status}), met {result.met:,}, "
        f"breaches {result.breaches:,}, in progress {result.in_progress:,}"
    )

    sla_s = best_of(
        args.repeat,
        lambda: compute_sla(rows, START, END, now, BusinessCalendar(tz=TZ), target),
    )
    naive_s = best_of(args.repeat, lambda: naive_wall_clock(rows, now))
    best = f"best of {args.repeat}"
    print(f"compute_sla: {sla_s * 1000:8.1f} ms  {len(rows) / sla_s:12,.0f} rows/s  ({best})")
    print(f"wall-clock : {naive_s * 1000:8.1f} ms  {len(rows) / naive_s:12,.0f} rows/s  (baseline)")
    print(f"ratio      : {sla_s / naive_s:8.1f} ×")


if __name__ == "__main__":
    main()
