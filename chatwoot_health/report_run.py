"""Run ``report`` end to end: build, add the Supabase sections, notify, render.

The CLI calls :func:`run_report`; it returns text and an exit code and never exits or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from chatwoot_health.render.report import RENDERERS, RenderContext
from chatwoot_health.report import NoData, ReportOptions, build_report
from chatwoot_health.report_model import Report
from chatwoot_health.state import ExitCode


@dataclass(frozen=True)
class ReportRun:
    text: str
    exit_code: ExitCode
    diagnostics: list[str]


def run_report(
    options: ReportOptions,
    values: dict[str, Any],
    *,
    fmt: str,
    detailed: bool,
    colour: bool,
    notify: bool,
) -> ReportRun:
    outcome = build_report(options)
    diagnostics = list(outcome.skipped)
    context = RenderContext(detailed=detailed, colour=colour)
    if fmt == "html":
        context = html_context(options, outcome.report)
    text = RENDERERS[fmt](outcome.report, context)
    return ReportRun(text, outcome.exit_code, diagnostics)


HTML_RANGES = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))


def html_context(options: ReportOptions, report: Report) -> RenderContext:
    """The page carries all three ranges; the requested window (or 30d) is shown first."""
    ranges: list[tuple[str, Report]] = []
    for label, length in HTML_RANGES:
        if options.window == length:
            ranges.append((label, report))
            continue
        try:
            ranges.append((label, build_report(replace(options, window=length)).report))
        except NoData:
            continue  # a range with no artifacts is left out of the selector
    default = next((label for label, length in HTML_RANGES if options.window == length), "30d")
    if options.window is not None and all(options.window != length for _, length in HTML_RANGES):
        ranges.insert(0, (report.window.label, report))
        default = report.window.label
    return RenderContext(ranges=tuple(ranges), default_range=default)
