"""The CI gate around a report: the failing criteria, GitHub Actions annotations and the job
summary. No printing: the CLI writes what these return.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chatwoot_health.models.alert import Severity
from chatwoot_health.models.report import Report
from chatwoot_health.render.context import RenderContext
from chatwoot_health.render.gate import criterion_line, failing, workflow_commands
from chatwoot_health.render.markdown import render as render_markdown


@dataclass(frozen=True)
class GitHubActions:
    """What the job's environment says: ``GITHUB_ACTIONS=true`` and ``GITHUB_STEP_SUMMARY``."""

    summary: Path | None


@dataclass(frozen=True)
class GateOutput:
    #: One line per failing criterion (alerts at or above ``--fail-on``).
    criteria: list[str]
    #: ``::error``/``::warning`` workflow commands (GitHub Actions only).
    annotations: list[str]
    #: Problems worth one line each (an unwritable job summary); the verdict stands.
    warnings: list[str]


def gate_output(report: Report, fail_on: Severity, github: GitHubActions | None) -> GateOutput:
    criteria = [criterion_line(alert) for alert in failing(report.alerts, fail_on)]
    if github is None:
        return GateOutput(criteria, [], [])
    warnings = []
    if github.summary is not None:
        summary = render_markdown(report, RenderContext(fail_on=fail_on))
        problem = append_summary(github.summary, summary)
        if problem is not None:
            warnings.append(problem)
    return GateOutput(criteria, workflow_commands(report.alerts, fail_on), warnings)


def append_summary(path: Path, text: str) -> str | None:
    """Append to the job summary file; a one-line reason when it cannot be done.

    Opened without blocking (a FIFO nobody reads fails at once) and only ever appended to.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        return f"job summary not written to {path}: {exc.strerror or exc}"
    try:
        data = ("\n" + text).encode("utf-8")
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError as exc:
        return f"job summary not written to {path}: {exc.strerror or exc}"
    finally:
        os.close(fd)
    return None
