"""``report --format markdown``: the card, the failing criteria and the sections as tables —
what a CI job appends to ``$GITHUB_STEP_SUMMARY``. Every remote string is escaped, so a channel
or agent name can neither break a table nor inject markup."""

from __future__ import annotations

import re
from collections.abc import Sequence

from chatwoot_health.models.report import Report
from chatwoot_health.redact import printable
from chatwoot_health.render.context import RenderContext
from chatwoot_health.render.gate import criterion_line, failing, gated_state
from chatwoot_health.timeutil import iso

_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md(value: object) -> str:
    """Text safe in a table cell: one line, Markdown punctuation escaped, no HTML."""
    text = " ".join(printable(str(value)).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(md(h) for h in headers) + " |"]
    lines.append("|" + "---|" * len(headers))
    lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
    return lines


def _n(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def _latency(
    name: str, median: float | None, p90: float | None, p99: float | None, samples: int
) -> list[object]:
    return [name, _n(median, " ms"), _n(p90, " ms"), _n(p99, " ms"), samples]


def _card(report: Report, ctx: RenderContext) -> list[str]:
    u, r, c, s = report.uptime, report.response_time, report.conversations, report.sla
    state = gated_state(report.alerts, ctx.fail_on)
    sla = "not configured" if s.status == "not_configured" else _n(s.compliance_percent, " %")
    rows = [
        ["Verdict", f"{state.icon} {state.word} (--fail-on {ctx.fail_on.value})"],
        ["Service", f"{u.current}, {_n(u.percent, ' %', 3)} uptime over {u.window.label}"],
        ["Last checked", u.last_checked_ago or "never"],
        ["Response time", f"median {_n(r.median_ms, ' ms')}, P90 {_n(r.p90_ms, ' ms')}"],
        ["SLA compliance", f"{sla} ({s.status})"],
        ["Queue", "no data" if c.pending is None else f"{c.pending} pending"],
        ["Alerts", ", ".join(f"{a.name} ({a.severity.value})" for a in report.alerts) or "none"],
    ]
    title = f"## {state.icon} Chatwoot: {state.word} — {md(report.instance or 'unknown')}"
    return [title, "", *table(["", ""], rows)]


def _criteria(report: Report, ctx: RenderContext) -> list[str]:
    failed = failing(report.alerts, ctx.fail_on)
    lines = [f"### Failing criteria (--fail-on {ctx.fail_on.value})", ""]
    if not failed:
        return [*lines, f"None: no alert at or above {ctx.fail_on.value}."]
    return lines + [f"- {md(criterion_line(alert))}" for alert in failed]


def _sections(report: Report) -> list[str]:
    u, r, c, s = report.uptime, report.response_time, report.conversations, report.sla
    out = [f"### Uptime (last {md(u.window.label)})", ""]
    out += table(
        ["uptime", "runs up / down", "runs seen / expected", "coverage", "last success"],
        [
            [
                _n(u.percent, " %", 3),
                f"{u.checks_up} / {u.checks_down}",
                f"{u.runs_seen} / {u.expected_checks}",
                _n(u.coverage_percent, " %"),
                iso(u.last_success_at) if u.last_success_at else "–",
            ]
        ],
    )
    out += ["", "### Response time", ""]
    rows = [_latency("all checks", r.median_ms, r.p90_ms, r.p99_ms, r.samples)]
    rows += [
        _latency(name, p.median_ms, p.p90_ms, p.p99_ms, p.samples) for name, p in r.by_check.items()
    ]
    out += table(["check", "median", "P90", "P99", "samples"], rows)
    out += ["", "### Conversations", ""]
    counts = [("–" if v is None else v) for v in (c.open, c.pending, c.resolved, c.snoozed)]
    as_of = iso(c.as_of) if c.as_of else "–"
    out += table(["open", "pending", "resolved", "snoozed", "as of"], [[*counts, as_of]])
    out += ["", f"### Channels ({md(report.channels_meta.window.label)})", ""]
    if report.channels:
        out += table(
            ["channel", "messages", "share", "avg first response", "status"],
            [
                [
                    ch.channel,
                    ch.messages,
                    _n(ch.share_percent, " %"),
                    _n(ch.avg_first_response_minutes, " min"),
                    ch.status.value,
                ]
                for ch in report.channels
            ],
        )
    else:
        out.append(md(report.channels_meta.note or "no channel data"))
    ai, humans = report.agents.ai, report.agents.humans
    out += ["", "### Agents", ""]
    out += table(
        ["AI agent", "humans online", "busy", "offline"],
        [
            [
                ai.state,
                humans.online if humans else "–",
                humans.busy if humans else "–",
                humans.offline if humans else "–",
            ]
        ],
    )
    out += ["", "### SLA compliance", ""]
    if s.status == "not_configured":
        out.append("Not configured (no Supabase settings).")
    else:
        met = "–" if s.met is None else f"{s.met} / {s.total}"
        out += table(
            ["compliance", "met / total", "in progress", "avg response", "breaches", "status"],
            [
                [
                    _n(s.compliance_percent, " %"),
                    met,
                    "–" if s.in_progress is None else s.in_progress,
                    _n(s.avg_response_minutes, " min"),
                    "–" if s.breaches is None else s.breaches,
                    str(s.status),
                ]
            ],
        )
    out += ["", "### Alerts", ""]
    if report.alerts:
        out += table(
            ["severity", "alert", "since", "message"],
            [
                [a.severity.value, a.name, iso(a.since) if a.since else "–", a.message]
                for a in report.alerts
            ],
        )
    else:
        out.append("None.")
    return out


def render(report: Report, ctx: RenderContext) -> str:
    lines = [*_card(report, ctx), "", *_criteria(report, ctx), "", *_sections(report)]
    return "\n".join(lines) + "\n"
