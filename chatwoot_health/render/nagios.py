"""Nagios / Icinga plugin output: ``CHATWOOT <STATE> - <reason> | <perfdata>``, then long output.

The helpers (:func:`perfdatum`, :func:`status_line`) follow the Monitoring Plugins Development
Guidelines (``'label'=value[UOM];[warn];[crit];[min];[max]``, ``U`` for a value that could not
be determined, trailing empty fields dropped) and are shared by every command's Nagios output;
:func:`render_report` is ``report --format nagios``.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatwoot_health.models.report import Report
from chatwoot_health.redact import printable
from chatwoot_health.render.context import RenderContext
from chatwoot_health.render.gate import criterion_line, failing, gated_state
from chatwoot_health.state import State
from chatwoot_health.thresholds import (
    HIGH_QUEUE_PENDING,
    MIN_COVERAGE_PERCENT,
    RESPONSE_TIME_TARGET_MS,
    SLA_GREEN_PERCENT,
    SLA_YELLOW_PERCENT,
    UPTIME_TARGET_PERCENT,
    URGENT_QUEUE_PENDING,
)

PLUGIN = "CHATWOOT"


def number(value: float) -> str:
    """A plain decimal (no exponent, at most 6 decimals, no trailing zeros)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def perfdatum(
    label: str,
    value: float | None,
    uom: str = "",
    warn: str = "",
    crit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
) -> str:
    """One perfdata item. ``warn``/``crit`` are Nagios ranges: ``10`` alerts above 10, ``99.9:``
    below 99.9."""
    if any(ch in label for ch in " '=|"):
        label = "'" + label.replace("'", "") + "'"
    shown = "U" if value is None else number(value) + uom
    fields = [
        shown,
        warn,
        crit,
        "" if minimum is None else number(minimum),
        "" if maximum is None else number(maximum),
    ]
    while len(fields) > 1 and fields[-1] == "":
        fields.pop()
    return f"{label}={';'.join(fields)}"


def clean(text: str) -> str:
    """One line without the perfdata separator: ``|`` would start Nagios' perfdata."""
    return " ".join(printable(text).replace("|", "/").split())


def status_line(state: State, reason: str, perfdata: Sequence[str]) -> str:
    line = f"{PLUGIN} {state.word} - {clean(reason)}"
    return f"{line} | {' '.join(perfdata)}" if perfdata else line


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def report_perfdata(report: Report, min_uptime: float | None) -> list[str]:
    u, r, s = report.uptime, report.response_time, report.sla
    items = [
        perfdatum(
            "uptime",
            u.percent,
            "%",
            f"{number(UPTIME_TARGET_PERCENT)}:",
            "" if min_uptime is None else f"{number(min_uptime)}:",
            0,
            100,
        ),
        perfdatum(
            "coverage", u.coverage_percent, "%", f"{number(MIN_COVERAGE_PERCENT)}:", "", 0, 100
        ),
        perfdatum("median", _seconds(r.median_ms), "s", minimum=0),
        perfdatum(
            "p90", _seconds(r.p90_ms), "s", number(RESPONSE_TIME_TARGET_MS / 1000), minimum=0
        ),
        perfdatum("p99", _seconds(r.p99_ms), "s", minimum=0),
        perfdatum(
            "pending",
            report.conversations.pending,
            "",
            str(HIGH_QUEUE_PENDING),
            str(URGENT_QUEUE_PENDING),
            0,
        ),
    ]
    if s.status != "not_configured":
        items.append(
            perfdatum(
                "sla",
                s.compliance_percent,
                "%",
                f"{SLA_GREEN_PERCENT}:",
                f"{SLA_YELLOW_PERCENT}:",
                0,
                100,
            )
        )
    return items


def _reason(report: Report, ctx: RenderContext) -> str:
    failed = failing(report.alerts, ctx.fail_on)
    if failed:
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        return failed[0].message + more
    u = report.uptime
    uptime = "no uptime data" if u.percent is None else f"uptime {number(u.percent)} %"
    reason = f"{uptime} over {u.window.label}, no alert"
    if report.alerts:  # below --fail-on: named, not judged
        reason = f"{uptime} over {u.window.label}, no {ctx.fail_on.value} alert"
        reason += f" ({len(report.alerts)} below --fail-on {ctx.fail_on.value})"
    return reason


def render_report(report: Report, ctx: RenderContext) -> str:
    state = gated_state(report.alerts, ctx.fail_on)
    lines = [status_line(state, _reason(report, ctx), report_perfdata(report, ctx.min_uptime))]
    lines += [clean(criterion_line(alert)) for alert in report.alerts]
    return "\n".join(lines) + "\n"
