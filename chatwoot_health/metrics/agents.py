"""Agent availability: the AI agent service (agent_sdk probe) and the human agents."""

from __future__ import annotations

from collections.abc import Sequence

from chatwoot_health.artifacts.fast import ArtifactCore
from chatwoot_health.models.report import AgentsOut, AiAgentOut, HumansOut
from chatwoot_health.state import Colour

AI_STATES = {"online": "online", "slow": "degraded", "offline": "offline"}


def agent_status(artifacts: Sequence[ArtifactCore]) -> AgentsOut:
    """The AI agent as of the latest run (online | degraded | offline | not_configured |
    unknown) and the human agents as of the latest run that counted them."""
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
    humans: HumansOut | None = None
    for artifact in reversed(artifacts):
        record = artifact.agents
        if record is not None:
            humans = HumansOut(
                online=record.online,
                busy=record.busy,
                offline=record.offline,
                available=[m.name for m in record.members if m.availability == "online"],
                as_of=artifact.checked_at,
            )
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
    ai = AiAgentOut(state=ai_state, duration_ms=duration, error=error, checked_at=checked)
    return AgentsOut(ai=ai, humans=humans, status=colour)
