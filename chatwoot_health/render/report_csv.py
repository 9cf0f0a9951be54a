"""``report --format csv``: the spec's metrics export, one row per metric.

Names in it come from Chatwoot (inboxes, channels, alert titles quoting them), so every text cell
is neutralised against CSV injection (OWASP): a spreadsheet must never run ``=HYPERLINK(…)``.
"""

from __future__ import annotations

import csv
import io
import re

from chatwoot_health.models.alert import Severity
from chatwoot_health.models.report import Report, WindowOut
from chatwoot_health.redact import printable
from chatwoot_health.render.gate import criterion_line, failing
from chatwoot_health.timeutil import iso

HEADER = ["section", "metric", "value", "unit", "status", "window_start", "window_end"]

# What a spreadsheet may read as the start of a formula (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A negative number such as -3.5 is data, not a formula (``+1`` is disarmed like any text: our
# own numbers never carry a plus sign, so a leading ``+`` can only come from a remote name).
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet shows as text: a leading ``'`` disarms a cell that
    begins like a formula, unless the cell is a plain number (``-3.5`` stays a number).

    Control characters go too (the CSV may be read on a terminal, and Python's writer does not
    quote a lone carriage return); line breaks stay, quoted by the writer.
    """
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    shown = printable(text, multiline=True)
    formula = text.startswith(_FORMULA_START) or shown.startswith(_FORMULA_START)
    return "'" + shown if formula and not _NUMBER.fullmatch(shown) else shown


def render(report: Report, fail_on: Severity = Severity.WARNING) -> str:
    """The rows; the last ones, section ``gate``, are the failing criteria under ``fail_on``
    (``--fail-on``), each value the one-line criterion (measured, threshold, window)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)

    def row(
        section: str, metric: str, value: object, unit: str, status: str, window: WindowOut | None
    ) -> None:
        writer.writerow(
            [
                cell(section),
                cell(metric),
                cell(value),
                cell(unit),
                cell(status),
                iso(window.start) if window else "",
                iso(window.end) if window else "",
            ]
        )

    u, r, c = report.uptime, report.response_time, report.conversations
    row("overall", "status", report.status.value, "", report.status.value, report.window)
    row("uptime", "percent", u.percent, "%", u.status, u.window)
    row("uptime", "checks_up", u.checks_up, "runs", u.status, u.window)
    row("uptime", "checks_down", u.checks_down, "runs", u.status, u.window)
    row("uptime", "expected_checks", u.expected_checks, "runs", u.status, u.window)
    row("uptime", "coverage_percent", u.coverage_percent, "%", u.status, u.window)
    row("uptime", "current", u.current, "", u.status, u.window)
    for name, value in (("median", r.median_ms), ("p90", r.p90_ms), ("p99", r.p99_ms)):
        row("response_time", f"{name}_ms", value, "ms", r.status, r.window)
    row("response_time", "samples", r.samples, "checks", r.status, r.window)
    for check, p in r.by_check.items():
        row("response_time", f"{check}.median_ms", p.median_ms, "ms", "", r.window)
        row("response_time", f"{check}.p90_ms", p.p90_ms, "ms", "", r.window)
    for key in ("open", "pending", "resolved", "snoozed"):
        row("conversations", key, getattr(c, key), "conversations", c.status, None)
    cw = report.channels_meta.window
    for ch in report.channels:
        row("channels", f"{ch.channel}.messages", ch.messages, "messages", ch.status, cw)
        row("channels", f"{ch.channel}.share_percent", ch.share_percent, "%", ch.status, cw)
        row(
            "channels",
            f"{ch.channel}.avg_first_response_minutes",
            ch.avg_first_response_minutes,
            "min",
            ch.status,
            cw,
        )
    a = report.agents
    row("agents", "ai_state", a.ai.state, "", a.status, None)
    if a.humans is not None:
        row("agents", "humans_online", a.humans.online, "agents", a.status, None)
    s = report.sla
    status = str(s.status)
    for key, unit in (
        ("compliance_percent", "%"),
        ("met", "conversations"),
        ("total", "conversations"),
        ("in_progress", "conversations"),
        ("avg_response_minutes", "min"),
        ("breaches", "conversations"),
    ):
        row("sla", key, getattr(s, key), unit, status, s.window)
    ap = report.approvals
    for name in ("webhook_ms", "private_note_ms", "approval_ms"):
        m = getattr(ap, name)
        row("approvals", f"{name}.median", m.median, "ms", str(ap.status), s.window)
        row("approvals", f"{name}.p90", m.p90, "ms", str(ap.status), s.window)
    row("approvals", "pending", ap.pending, "approvals", str(ap.status), None)
    row(
        "approvals",
        "estimated_wait_minutes",
        ap.estimated_wait_minutes,
        "min",
        str(ap.status),
        None,
    )
    for alert in report.alerts:
        row("alerts", alert.name, alert.title, "", alert.severity.value, None)
    for alert in failing(report.alerts, fail_on):
        row("gate", alert.name, criterion_line(alert), "", alert.severity.value, None)
    return buffer.getvalue()
