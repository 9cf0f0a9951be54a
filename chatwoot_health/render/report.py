"""The registry of ``report`` renderers, one per ``--format`` choice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatwoot_health.report_model import Report

#: The HTML range that shows the report as asked for without --window (each section's own window).
DEFAULT_RANGE = "Default"


@dataclass(frozen=True)
class RenderContext:
    detailed: bool = False
    colour: bool = False
    #: The same report for each window of the HTML range selector, e.g. (("24h", r1), ("7d", r2),
    #: ("30d", r3)); the page shows ``default_range`` first (and alone without scripts).
    ranges: tuple[tuple[str, Report], ...] = ()
    default_range: str = "30d"


def _table(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.report_text import render

    return render(report, ctx.detailed, ctx.colour)


def _json(report: Report, ctx: RenderContext) -> str:
    return report.model_dump_json(indent=2) + "\n"


def _csv(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.report_csv import render

    return render(report)


def _html(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.html import render

    return render(report, ctx)


RENDERERS: dict[str, Callable[[Report, RenderContext], str]] = {
    "table": _table,
    "json": _json,
    "csv": _csv,
    "html": _html,
}
