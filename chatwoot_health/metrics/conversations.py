"""The conversation queue: the latest counts, or the last known ones with their age."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.models.report import ConversationsOut
from chatwoot_health.state import Colour
from chatwoot_health.thresholds import HIGH_QUEUE_PENDING, URGENT_QUEUE_PENDING
from chatwoot_health.timeutil import humanize_age


def queue_colour(pending: int | None) -> tuple[Colour, str | None]:
    if pending is None:
        return Colour.GREY, None
    if pending > URGENT_QUEUE_PENDING:
        return Colour.RED, "URGENT: High backlog"
    if pending > HIGH_QUEUE_PENDING:
        return Colour.YELLOW, "CX queue backlog"
    return Colour.GREEN, None


def latest_conversations(artifacts: Sequence[ArtifactCore], now: datetime) -> ConversationsOut:
    """The latest counts; ``stale`` when the latest run could not fetch them (these are then
    the last known values, with their age)."""
    for index in range(len(artifacts) - 1, -1, -1):
        counts = artifacts[index].conversations
        if counts is not None:
            colour, banner = queue_colour(counts.pending)
            as_of = artifacts[index].checked_at
            return ConversationsOut(
                open=counts.open,
                pending=counts.pending,
                resolved=counts.resolved,
                snoozed=counts.snoozed,
                as_of=as_of,
                age=humanize_age(now - as_of),
                stale=index != len(artifacts) - 1,
                banner=banner,
                status=colour,
            )
    return ConversationsOut()
