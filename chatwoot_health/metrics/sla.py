"""Business-hours SLA compliance over ``decision_log`` rows.

A wait only counts while the business is open: a message that arrives Friday 16:55 and is decided
Monday 09:05 waited 10 minutes, which is how support leads judge their team.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels_common import channel_label
from chatwoot_health.metrics.window import Window
from chatwoot_health.models.report import BreachOut, SlaOut
from chatwoot_health.models.rows import DecisionRow
from chatwoot_health.thresholds import SLA_GREEN_PERCENT, SLA_YELLOW_PERCENT

SlaStatus = Literal["green", "yellow", "red", "grey"]


def sla_status(met: int, total: int) -> SlaStatus:
    """Colour of a compliance ratio, compared in integers so exactly 95 % is green, not a float
    that happens to land at 94.99999999999999."""
    if total == 0:
        return "grey"
    if met * 100 >= SLA_GREEN_PERCENT * total:
        return "green"
    if met * 100 >= SLA_YELLOW_PERCENT * total:
        return "yellow"
    return "red"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def compute_sla(
    rows: Sequence[DecisionRow],
    start: datetime,
    end: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    target: timedelta,
) -> SlaOut:
    """SLA verdicts for the rows received in (start, end], as seen at ``now``: the window rule of
    every section (:meth:`Window.contains`), so that consecutive windows never count a row twice.

    A row decided after ``now`` (a report for an earlier ``--at``) was still pending at ``now``, so
    it is judged as pending: the report must not depend on what happened later.
    """
    target_s = target.total_seconds()
    business_seconds = calendar.business_seconds
    met = in_progress = 0
    decided_wait_total = 0.0
    decided_count = 0
    breached: list[tuple[float, DecisionRow, bool]] = []
    for row in rows:
        received = row.message_received_at
        if not start < received <= end:
            continue
        decided_at = row.decided_at
        pending = decided_at is None or decided_at > now
        wait = business_seconds(received, now if pending or decided_at is None else decided_at)
        if pending:
            if wait > target_s:
                breached.append((wait, row, True))
            else:
                in_progress += 1
            continue
        decided_count += 1
        decided_wait_total += wait
        if wait <= target_s:
            met += 1
        else:
            breached.append((wait, row, False))
    breached.sort(key=lambda item: (-item[0], item[1].conversation_id, item[1].id))
    details = [
        BreachOut(
            conversation_id=row.conversation_id,
            customer_name=row.customer_name,
            channel=channel_label(row.channel),
            wait_minutes=round(wait / 60, 1),
            reason=row.reason,
            pending=pending,
        )
        for wait, row, pending in breached
    ]
    total = met + len(breached)
    compliance = met * 100 / total if total else None
    average = decided_wait_total / decided_count / 60 if decided_count else None
    return SlaOut(
        compliance_percent=_round(compliance),
        met=met,
        total=total,
        in_progress=in_progress,
        avg_response_minutes=_round(average),
        breaches=len(breached),
        breach_details=details,
        target_minutes=target_s / 60,
        status=sla_status(met, total),
        window=Window(start, end).out(),
        compliance_exact=compliance,
        avg_response_exact=average,
    )
