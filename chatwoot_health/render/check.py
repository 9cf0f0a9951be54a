"""Output of ``check``: a short table (default) or the artifact itself as JSON."""

from __future__ import annotations

from collections.abc import Callable

from chatwoot_health.models.artifact import Artifact, CheckResult, RunStatus
from chatwoot_health.redact import printable_fields
from chatwoot_health.render.style import badge
from chatwoot_health.state import RUN_STATES, State


def _check_state(check: CheckResult) -> tuple[State, str]:
    if check.skipped:
        return State.OK, "skipped"
    if check.ok is None:
        return State.UNKNOWN, "unknown"
    if check.ok:
        return State.OK, check.state or "ok"
    return (
        State.CRITICAL if check.name == "rails_health" else State.WARNING,
        check.state or "failed",
    )


def render_table(artifact: Artifact, colour: bool, rejected: bool = False) -> str:
    from tabulate import tabulate  # only when a table is printed: it costs ~90 ms to import

    # Error texts and names come from the probed services: nothing of theirs may drive the terminal.
    artifact = printable_fields(artifact)
    rows = []
    for check in artifact.checks:
        state, word = _check_state(check)
        shown = f"{'–' if check.skipped else state.icon} {word}"
        if colour and not check.skipped:
            shown = badge(state, True, word)
        detail = check.error or check.skip_reason or ""
        if check.path and check.name == "rails_health":
            detail = f"{check.path}" + (f" — {detail}" if detail else "")
        rows.append(
            [
                check.name,
                shown,
                check.status_code if check.status_code is not None else "",
                f"{check.duration_ms:.0f}" if check.duration_ms is not None else "",
                detail,
            ]
        )
    table = tabulate(rows, headers=["check", "result", "http", "ms", "detail"], tablefmt="simple")
    state = RUN_STATES[artifact.status]
    headline = badge(state, colour, artifact.status.value.upper())
    if rejected and artifact.status in (RunStatus.OK, RunStatus.DEGRADED):
        # The run is only degraded, but the exit code is CRITICAL: say why at the top.
        headline += " — " + badge(
            State.CRITICAL, colour, "CRITICAL: the token or account was rejected"
        )
    lines = [f"Chatwoot {artifact.instance}: {headline}"]
    if artifact.conversations:
        c = artifact.conversations
        lines.append(
            f"Conversations: {c.open} open, {c.pending} pending, {c.resolved} resolved, "
            f"{c.snoozed} snoozed"
        )
    if artifact.agents:
        a = artifact.agents
        lines.append(f"Agents: {a.online} online, {a.busy} busy, {a.offline} offline")
    return "\n".join([*lines, "", table]) + "\n"


def render_json(artifact: Artifact, colour: bool, rejected: bool = False) -> str:
    return artifact.model_dump_json(indent=2) + "\n"


RENDERERS: dict[str, Callable[[Artifact, bool, bool], str]] = {
    "table": render_table,
    "json": render_json,
}
