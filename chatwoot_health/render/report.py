"""The registry of ``report`` renderers, one per ``--format`` choice."""

from __future__ import annotations

from collections.abc import Callable

from chatwoot_health.models.report import Report
from chatwoot_health.render.context import RenderContext


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
