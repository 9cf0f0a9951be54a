"""``report --format table``: the spec's compact card first, then (``--detailed``) every section."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from tabulate import tabulate

from chatwoot_health.models.report import BreachOut, Report
from chatwoot_health.redact import printable_fields
from chatwoot_health.render.style import badge
from chatwoot_health.state import Colour, State
from chatwoot_health.timeutil import iso

COLOUR_STATE = {
    Colour.GREEN: State.OK,
    Colour.YELLOW: State.WARNING,
    Colour.RED: State.CRITICAL,
    Colour.GREY: State.UNKNOWN,
}
COLOUR_WORD = {
    Colour.GREEN: "OK",
    Colour.YELLOW: "WARNING",
    Colour.RED: "CRITICAL",
    Colour.GREY: "NO DATA",
}
OVERALL_WORD = {
    State.OK: "Operational",
    State.WARNING: "Degraded",
    State.CRITICAL: "Critical",
    State.UNKNOWN: "Unknown",
}


def _colour_badge(colour: Colour | str, on_tty: bool, word: str | None = None) -> str:
    if not isinstance(colour, Colour):
        return f"– {word or str(colour).replace('_', ' ')}"
    return badge(COLOUR_STATE[colour], on_tty, word or COLOUR_WORD[colour])


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def _at(moment: datetime | None) -> str:
    return "–" if moment is None else iso(moment)


def card(report: Report, on_tty: bool) -> list[str]:
    u, r, c, s = report.uptime, report.response_time, report.conversations, report.sla
    percent = "no data" if u.percent is None else f"{u.percent:.2f}% uptime"
    current = {"up": "Operational", "down": "Down", "unknown": "Unknown"}[u.current]
    current_state = {"up": State.OK, "down": State.CRITICAL, "unknown": State.UNKNOWN}[u.current]
    if s.status == "not_configured":
        sla = "not configured"
    elif s.compliance_percent is None:
        sla = f"{_colour_badge(s.status, on_tty, 'unknown' if s.status == 'unknown' else None)}"
        sla += f" ({s.error})" if s.error else ""
    else:
        sla = f"{s.compliance_percent:.1f}% {_colour_badge(s.status, on_tty)}"
    queue = "no data" if c.pending is None else f"{c.pending} pending"
    if c.pending is not None and c.stale:
        queue += f" (as of {c.age})"
    lines = [
        f"Chatwoot Status — {badge(report.status, on_tty, OVERALL_WORD[report.status])}"
        f" ({report.instance})",
        f"Service: {badge(current_state, on_tty, current)} ({percent} - last {u.window.label})",
        f"Last checked: {u.last_checked_ago or 'never'}",
        f"Response Time: {_ms(r.median_ms)} median, P90 {_ms(r.p90_ms)} "
        f"{_colour_badge(r.status, on_tty)}",
        f"SLA Compliance: {sla}",
        f"Queue: {queue} {_colour_badge(c.status, on_tty, c.banner or None)}",
    ]
    if report.alerts:
        names = ", ".join(f"{a.name} ({a.severity.value})" for a in report.alerts)
        lines.append(f"Alerts: {names}")
    else:
        lines.append("Alerts: none")
    return lines


Section = tuple[str, list[str]]  # title, lines


def _uptime(report: Report, on_tty: bool) -> Section:
    u = report.uptime
    rows = [
        ["current", u.current + (f" — {u.error}" if u.error and u.current != "up" else "")],
        ["uptime", _num(u.percent, "%", 3) + " " + _colour_badge(u.status, on_tty)],
        ["runs up / down", f"{u.checks_up} / {u.checks_down}"],
        ["runs seen / expected", f"{u.runs_seen} / {u.expected_checks}"],
        ["coverage", _num(u.coverage_percent, "%")],
        ["last checked", f"{_at(u.last_checked_at)} ({u.last_checked_ago or 'never'})"],
        ["last success", _at(u.last_success_at)],
    ]
    lines = [tabulate(rows, tablefmt="plain")]
    if report.locations:  # several probe locations: the counts above are the quorum's slots
        lines += ["", "Per location (its own runs; the counts above are the quorum's slots):"]
        lines.append(
            tabulate(
                [
                    [
                        where.name,
                        where.status,
                        _num(where.percent, "%", 3),
                        f"{where.up} / {where.down}",
                        f"{where.runs} / {where.expected_checks}",
                        _num(where.coverage_percent, "%"),
                        _ms(where.response_time.median_ms),
                        _ms(where.response_time.p90_ms),
                        _at(where.last_run_at),
                    ]
                    for where in report.locations
                ],
                headers=[
                    "location",
                    "status",
                    "uptime",
                    "up / down",
                    "runs / expected",
                    "coverage",
                    "median",
                    "P90",
                    "last run",
                ],
            )
        )
    return f"Uptime (last {u.window.label})", lines


def _response_time(report: Report, on_tty: bool) -> Section:
    r = report.response_time
    rows = [
        [
            "all checks",
            _ms(r.median_ms),
            _ms(r.p90_ms),
            _ms(r.p99_ms) if r.p99_ms is not None else f"n<100 ({r.samples})",
            r.samples,
        ]
    ]
    for name, p in r.by_check.items():
        p99 = _ms(p.p99_ms) if p.p99_ms is not None else "–"
        rows.append([name, _ms(p.median_ms), _ms(p.p90_ms), p99, p.samples])
    targets = ", ".join(
        f"{t.name} < {_ms(t.target_ms)}: {'missed' if t.missed else 'met'}" for t in r.targets
    )
    return f"Response time (last {r.window.label}, successful checks)", [
        tabulate(rows, headers=["check", "median", "P90", "P99", "samples"]),
        f"Targets (P90): {targets} → {_colour_badge(r.status, on_tty)}",
    ]


def _conversations(report: Report, on_tty: bool) -> Section:
    c = report.conversations
    if c.pending is None:
        return "Conversations", [
            "no data (the conversations probe has not succeeded in this window)"
        ]
    rows: list[list[object]] = [
        ["open", c.open],
        ["pending", c.pending],
        ["resolved", c.resolved],
        ["snoozed", c.snoozed],
    ]
    stale = " — last known values: the latest run could not fetch them" if c.stale else ""
    out = [tabulate(rows, tablefmt="plain"), f"as of {_at(c.as_of)} ({c.age})" + stale]
    if c.banner:
        out.append(_colour_badge(c.status, on_tty, c.banner))
    return "Conversations", out


def _channels(report: Report, on_tty: bool) -> Section:
    meta = report.channels_meta
    title = f"Channels (last {meta.window.label})"
    if not report.channels:
        return title, [meta.note or "no data"]
    rows = [
        [
            ch.channel,
            ch.messages,
            _num(ch.share_percent, "%"),
            _num(ch.avg_first_response_minutes, " min"),
            f"{ch.target_minutes:g} min",
            _colour_badge(ch.status, on_tty),
        ]
        for ch in report.channels
    ]
    headers = ["channel", "messages", "share", "avg first response", "target", "status"]
    return title, [tabulate(rows, headers=headers)]


def _agents(report: Report, on_tty: bool) -> Section:
    a = report.agents
    ai = a.ai.state.replace("_", " ")
    if a.ai.error:
        ai += f" — {a.ai.error}"
    out = [f"AI agent: {ai}"]
    if a.humans is None:
        out.append("Human agents: no data")
    else:
        names = ", ".join(a.humans.available) or "none"
        out.append(
            f"Human agents: {a.humans.online} online ({names}), {a.humans.busy} busy, "
            f"{a.humans.offline} offline"
        )
    ap = report.approvals
    if ap.status != "not_configured":
        out.append(
            f"Review queue: {ap.pending if ap.pending is not None else '–'} pending, "
            f"avg processing {_num(ap.avg_processing_minutes, ' min')}, "
            f"estimated wait {_num(ap.estimated_wait_minutes, ' min')}"
        )
    out.append(f"Status: {_colour_badge(a.status, on_tty)}")
    return "Agents", out


def _sla(report: Report, on_tty: bool) -> Section:
    s = report.sla
    title = "SLA compliance" + (f" (last {s.window.label})" if s.window else "")
    if s.status == "not_configured":
        return title, ["not configured (set SUPABASE_URL and SUPABASE_KEY)"]
    out: list[str] = []
    if s.error:
        out.append(f"error: {s.error}")
    if s.cached_at:
        out.append(f"using cached data from {_at(s.cached_at)}")
    if s.total is not None:
        compliance = (
            f"{_num(s.compliance_percent, '%')} ({s.met}/{s.total}) "
            f"{_colour_badge(s.status, on_tty)}"
        )
        rows: list[list[object]] = [
            ["target", f"≤ {s.target_minutes:g} min (business hours)"],
            ["compliance", compliance],
            ["in progress", s.in_progress],
            ["avg response", _num(s.avg_response_minutes, " min")],
            ["breaches", s.breaches],
        ]
        out.append(tabulate(rows, tablefmt="plain"))
    if s.breach_details:
        out += _breaches(s.breach_details)
    return title, out


def _breaches(details: Sequence[BreachOut], shown: int = 20) -> list[str]:
    rows = [
        [
            b.conversation_id,
            b.customer_name or "",
            b.channel or "",
            f"{b.wait_minutes:g}",
            b.reason or "",
            "pending" if b.pending else "",
        ]
        for b in details[:shown]
    ]
    headers = ["conversation", "customer", "channel", "wait (min)", "reason", ""]
    out = [tabulate(rows, headers=headers)]
    if len(details) > shown:
        out.append(f"… and {len(details) - shown} more (see --format json)")
    return out


def _alerts(report: Report, on_tty: bool) -> Section:
    out = [] if report.alerts else ["none"]
    for alert in report.alerts:
        out.extend([alert.text, ""])
    if report.artifacts.skipped:
        out.append(f"{report.artifacts.skipped} artifact file(s) skipped (see stderr)")
    return "Alerts", out


SECTIONS: tuple[Callable[[Report, bool], Section], ...] = (
    _uptime,
    _response_time,
    _conversations,
    _channels,
    _agents,
    _sla,
    _alerts,
)


def detailed(report: Report, on_tty: bool) -> list[str]:
    """Every section under its underlined title, then the alert texts."""
    out: list[str] = []
    for section in SECTIONS:
        title, lines = section(report, on_tty)
        out += ["", title, "-" * len(title), *lines]
    return out


def render(report: Report, detailed_view: bool, on_tty: bool, criteria: Sequence[str] = ()) -> str:
    """``criteria``: the gate's failing criteria, one line each, shown under the card."""
    # Inbox, channel and agent names and error texts come from Chatwoot and Supabase: no escape
    # sequence or control character of theirs reaches the terminal (alert texts keep their lines).
    report = printable_fields(report, multiline=frozenset({"text"}))
    lines = card(report, on_tty)
    if criteria:
        lines += ["Failing criteria:", *(f"  {line}" for line in criteria)]
    if detailed_view:
        lines += detailed(report, on_tty)
    return "\n".join(lines).rstrip() + "\n"
