"""The gate's verdict as text: which alerts fail under ``--fail-on``, one line per failing
criterion (measured number, threshold, window), and GitHub Actions workflow commands.

Every format uses these, so a criterion reads the same in the table, Markdown, Nagios' long
output, stderr and a CI annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.redact import printable
from chatwoot_health.state import State, worst

#: ``--fail-on`` choices, the default first.
FAIL_ON = ("warning", "critical")

A = TypeVar("A", bound=Alert)


def failing(alerts: Sequence[A], fail_on: Severity) -> list[A]:
    """The alerts at or above ``fail_on``: the gate's failing criteria, in the report's order."""
    floor = fail_on.state.rank
    return [alert for alert in alerts if alert.severity.state.rank >= floor]


def gated_state(alerts: Sequence[Alert], fail_on: Severity) -> State:
    """The verdict under ``--fail-on``: the worst failing alert, OK when none fails."""
    return worst((alert.severity.state for alert in failing(alerts, fail_on)), State.OK)


def criterion_line(alert: Alert) -> str:
    """``CRITICAL uptime_below_target: measured uptime 99.801 %; threshold ≥ 100 % (--min-uptime);
    window 7d`` — one line, no control character (messages may quote remote text)."""
    word = alert.severity.state.word
    c = alert.criterion
    if c is None:
        detail = alert.message
    else:
        detail = f"measured {c.measured}; threshold {c.threshold}; window {c.window}"
    return " ".join(printable(f"{word} {alert.name}: {detail}").split())


def _escape_data(text: str) -> str:
    """The workflow-commands escaping of a message (actions/toolkit ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """… and of a property value (``escapeProperty``): also ``:`` and ``,``."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_commands(alerts: Sequence[Alert], fail_on: Severity) -> list[str]:
    """``::error``/``::warning`` workflow commands: a failing criterion is an error, any other
    alert a warning (shown on the run, the gate's verdict unchanged)."""
    failed = {id(alert) for alert in failing(alerts, fail_on)}
    lines = []
    for alert in alerts:
        level = "error" if id(alert) in failed else "warning"
        title = _escape_property(f"chatwoot-health: {alert.title}")
        lines.append(f"::{level} title={title}::{_escape_data(criterion_line(alert))}")
    return lines
