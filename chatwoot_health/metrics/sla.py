"""Business-hours SLA compliance over ``decision_log`` rows.

A wait only counts while the business is open: a message that arrives Friday 16:55 and is decided
Monday 09:05 waited 10 minutes, which is how support leads judge their team.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels_common import channel_label
from chatwoot_health.sources.rows import DecisionRow

SlaStatus = Literal["green", "yellow", "red", "grey"]

GREEN_AT_PERCENT = 95
YELLOW_AT_PERCENT = 85


class BreachDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    conversation_id: int
    customer_name: str | None
    channel: str  # a reader's label, see channel_label
    wait_minutes: float  # business minutes, rounded to 0.1
    reason: str | None
    pending: bool  # still undecided at the report's instant


class SlaResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    compliance_percent: float | None  # None when no row has a verdict yet
    met: int
    total: int  # met + breaches; in-progress rows have no verdict yet
    in_progress: int
    avg_response_minutes: float | None  # decided rows only: pending ones have no response yet
    breaches: int
    breach_details: list[BreachDetail]  # longest wait first
    status: SlaStatus


def sla_status(met: int, total: int) -> SlaStatus:
    """Colour of a compliance ratio, compared in integers so exactly 95 % is green, not a float
    that happens to land at 94.99999999999999."""
    if total == 0:
        return "grey"
    if met * 100 >= GREEN_AT_PERCENT * total:
        return "green"
    if met * 100 >= YELLOW_AT_PERCENT * total:
        return "yellow"
    return "red"


def compute_sla(
    rows: Sequence[DecisionRow],
    start: datetime,
    end: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    target: timedelta,
) -> SlaResult:
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
        BreachDetail(
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
    return SlaResult(
        compliance_percent=met * 100 / total if total else None,
        met=met,
        total=total,
        in_progress=in_progress,
        avg_response_minutes=decided_wait_total / decided_count / 60 if decided_count else None,
        breaches=len(breached),
        breach_details=details,
        status=sla_status(met, total),
    )
