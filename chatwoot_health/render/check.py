"""Output of ``check``: a Nagios plugin status line and a short table (default), or the artifact
itself as JSON; and the one stderr line that says what failed (cron mails it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from chatwoot_health.models.artifact import Artifact, CheckResult, RunStatus
from chatwoot_health.redact import printable_fields
from chatwoot_health.render.style import badge
from chatwoot_health.state import RUN_STATES, State
from chatwoot_health.thresholds import HIGH_QUEUE_PENDING, URGENT_QUEUE_PENDING
from chatwoot_health.timeutil import humanize_age


@dataclass(frozen=True)
class CheckView:
    """What ``check``'s outputs show of one run, beside its artifact: plain values, so that
    rendering never depends on the command."""

    artifact: Artifact
    state: State  # the exit code's
    rejected: bool = False
    write_error: str | None = None
    #: Per-probe timeouts in ms (the perfdata's critical thresholds).
    timeout_ms: float = 5000.0
    agent_slow_ms: float = 5000.0
    agent_timeout_ms: float = 10000.0
    #: The liveness failure's streak: when it began, and whether service_down holds.
    down_since: datetime | None = None
    confirmed: bool = False
    #: Alerts whose start message reached at least one channel in this run.
    notified: tuple[str, ...] = ()
    #: Alerts started in this run whose message no channel took yet (the outbox retries it).
    pending: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()


def reason(view: CheckView) -> str:
    """What failed and why, in a few words (``liveness down: connection refused``), or what
    was found when nothing failed."""
    artifact = view.artifact
    liveness = artifact.check("rails_health")
    parts: list[str] = []
    if liveness is not None and liveness.ok is False:
        parts.append(f"liveness down: {_short(liveness.error)}")
    elif liveness is not None and liveness.ok is None and not liveness.skipped:
        parts.append(f"liveness not judged: {_short(liveness.error)}")
    if view.rejected:
        parts.append("the token or account was rejected")
    failing = [
        check
        for check in artifact.checks
        if check.ok is False and not check.skipped and check.name != "rails_health"
    ]
    if failing and not parts:
        first = failing[0]
        others = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        parts.append(f"{first.name} {first.state or 'failed'}: {_short(first.error)}{others}")
    if view.write_error is not None:
        parts.append(f"artifact not written: {_short(view.write_error)}")
    if parts:
        return "; ".join(parts)
    if liveness is not None and liveness.duration_ms is not None and liveness.ok:
        found = [f"liveness up in {liveness.duration_ms:.0f} ms"]
    else:
        found = ["no failure"]
    if artifact.reprobes:
        found.append(f"after {len(artifact.reprobes)} probes (a blip)")
    if artifact.conversations is not None:
        found.append(f"{artifact.conversations.pending} pending")
    if artifact.agents is not None:
        found.append(f"{artifact.agents.online} agents online")
    return ", ".join(found)


def _short(text: str | None, limit: int = 160) -> str:
    line = " ".join((text or "no detail").split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


_ASCII = str.maketrans({"—": "-", "–": "-", "…": "...", "→": "->", "≤": "<=", "≥": ">="})


def ascii_only(text: str) -> str:
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


def perfdata(view: CheckView) -> list[str]:
    """Each probe's time (ms; critical at its timeout), the pending conversations (warning
    above 10, critical above 20) and the agents online, per the plugin guidelines."""
    from chatwoot_health.render.nagios import perfdatum

    items: list[str] = []
    for check in view.artifact.checks:
        if check.skipped or check.duration_ms is None:
            continue
        warn, crit = "", view.timeout_ms
        if check.name == "agent_sdk":
            warn, crit = f"{view.agent_slow_ms:g}", view.agent_timeout_ms
        items.append(perfdatum(check.name, check.duration_ms, "ms", warn, f"{crit:g}", 0))
    if view.artifact.conversations is not None:
        pending = view.artifact.conversations.pending
        items.append(
            perfdatum("pending", pending, "", str(HIGH_QUEUE_PENDING), str(URGENT_QUEUE_PENDING), 0)
        )
    if view.artifact.agents is not None:
        items.append(perfdatum("agents_online", view.artifact.agents.online, minimum=0))
    return [ascii_only(item) for item in items]


def status_line(view: CheckView) -> str:
    """``CHATWOOT <STATE> - <reason> | <perfdata>``: ASCII only, one line (Nagios reads it)."""
    from chatwoot_health.render.nagios import status_line as nagios_line

    return ascii_only(nagios_line(view.state, ascii_only(reason(view)), perfdata(view)))


def headline(view: CheckView) -> str:
    """The first stderr line of a run that is not OK: ``CRITICAL - liveness down: connection
    refused (since 12:01 UTC, confirmed after 2 minutes; notified: service_down)``."""
    notes: list[str] = []
    if view.down_since is not None:
        since = f"since {_clock(view.down_since, view.artifact.checked_at)}"
        span = view.artifact.failure_span
        if view.confirmed and span is not None:
            lasted = humanize_age(span.last - view.down_since).removesuffix(" ago")
            since += f", confirmed after {lasted}"
        elif span is not None:
            since += ", not confirmed yet"
        notes.append(since)
    if view.notified:
        notes.append("notified: " + ", ".join(view.notified))
    if view.pending:
        notes.append("not notified yet: " + ", ".join(view.pending))
    if view.resolved:
        notes.append("resolved: " + ", ".join(view.resolved))
    tail = f" ({'; '.join(notes)})" if notes else ""
    return f"{view.state.word} - {reason(view)}{tail}"


def _clock(moment: datetime, now: datetime) -> str:
    moment, now = moment.astimezone(UTC), now.astimezone(UTC)
    return f"{moment:%H:%M} UTC" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M} UTC"


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


def render_status_table(view: CheckView, colour: bool) -> str:
    """The plugin status line, then the table as long output."""
    return status_line(view) + "\n" + render_table(view.artifact, colour, view.rejected)


def render_json(view: CheckView, colour: bool) -> str:
    return view.artifact.model_dump_json(indent=2) + "\n"


RENDERERS: dict[str, Callable[[CheckView, bool], str]] = {
    "table": render_status_table,
    "json": render_json,
}
