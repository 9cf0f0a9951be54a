"""The conversation queue: the latest counts, or the last known ones with their age."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chatwoot_health.artifacts.fast import ArtifactCore, ConversationRecord
from chatwoot_health.models.artifact import ConversationCounts
from chatwoot_health.state import Colour

BACKLOG_AT = 10  # pending > 10: yellow "CX queue backlog"
URGENT_AT = 20  # pending > 20: red "URGENT: High backlog"


@dataclass(frozen=True)
class Conversations:
    counts: ConversationCounts | ConversationRecord | None
    as_of: datetime | None
    stale: bool  # the latest run could not fetch them; these are the last known values
    status: Colour
    banner: str | None


def queue_colour(pending: int | None) -> tuple[Colour, str | None]:
    if pending is None:
        return Colour.GREY, None
    if pending > URGENT_AT:
        return Colour.RED, "URGENT: High backlog"
    if pending > BACKLOG_AT:
        return Colour.YELLOW, "CX queue backlog"
    return Colour.GREEN, None


def latest_conversations(artifacts: Sequence[ArtifactCore]) -> Conversations:
    for index in range(len(artifacts) - 1, -1, -1):
        counts = artifacts[index].conversations
        if counts is not None:
            colour, banner = queue_colour(counts.pending)
            return Conversations(
                counts=counts,
                as_of=artifacts[index].checked_at,
                stale=index != len(artifacts) - 1,
                status=colour,
                banner=banner,
            )
    return Conversations(None, None, False, Colour.GREY, None)
