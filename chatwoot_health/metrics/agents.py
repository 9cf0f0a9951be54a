"""Agent availability: the AI agent service (agent_sdk probe) and the human agents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chatwoot_health.artifacts.fast import AgentsRecord, ArtifactCore
from chatwoot_health.models.artifact import Agents
from chatwoot_health.state import Colour

AI_STATES = {"online": "online", "slow": "degraded", "offline": "offline"}


@dataclass(frozen=True)
class AgentStatus:
    ai_state: str  # online | degraded | offline | not_configured | unknown
    ai_duration_ms: float | None
    ai_error: str | None
    ai_checked_at: datetime | None
    humans: Agents | AgentsRecord | None
    humans_as_of: datetime | None
    status: Colour

    @property
    def available_names(self) -> list[str]:
        if self.humans is None:
            return []
        return [m.name for m in self.humans.members if m.availability == "online"]


def agent_status(artifacts: Sequence[ArtifactCore]) -> AgentStatus:
    latest = artifacts[-1] if artifacts else None
    ai_state, duration, error, checked = "unknown", None, None, None
    if latest is not None:
        check = latest.check("agent_sdk")
        checked = latest.checked_at
        if check is None or check.state == "not_configured":
            ai_state = "not_configured"
        else:
            ai_state = AI_STATES.get(check.state or "", "unknown")
            duration, error = check.duration_ms, check.error
    humans, humans_at = None, None
    for artifact in reversed(artifacts):
        if artifact.agents is not None:
            humans, humans_at = artifact.agents, artifact.checked_at
            break
    online = humans.online if humans is not None else None
    if ai_state == "offline":
        colour = Colour.RED
    elif ai_state == "degraded" or online == 0:
        colour = Colour.YELLOW
    elif ai_state == "unknown" and online is None:
        colour = Colour.GREY
    else:
        colour = Colour.GREEN
    return AgentStatus(ai_state, duration, error, checked, humans, humans_at, colour)
