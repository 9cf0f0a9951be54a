"""The registry of ``report`` renderers, one per ``--format`` choice."""

from __future__ import annotations

from collections.abc import Callable

from chatwoot_health.models.report import Report
from chatwoot_health.render.context import RenderContext


def _table(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.gate import criterion_line, failing
    from chatwoot_health.render.report_text import render

    criteria = [criterion_line(alert) for alert in failing(report.alerts, ctx.fail_on)]
    return render(report, ctx.detailed, ctx.colour, criteria)


def _json(report: Report, ctx: RenderContext) -> str:
    # ``locations`` only with several locations: one location's report is byte-identical
    hidden = {"locations"} if report.locations is None else None
    return report.model_dump_json(indent=2, exclude=hidden) + "\n"


def _csv(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.report_csv import render

    return render(report, ctx.fail_on)


def _html(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.html import render

    return render(report, ctx)


def _markdown(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.markdown import render

    return render(report, ctx)


def _nagios(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.nagios import render_report

    return render_report(report, ctx)


def _prometheus(report: Report, ctx: RenderContext) -> str:
    """The live server's gauges (same names and labels), for node_exporter's textfile collector;
    the window's uptime and coverage under ``window="<label>"``."""
    from chatwoot_health.render.prometheus import exposition, families

    body, _ = exposition(families(report, [(report.window.label, report)], {}, report.generated_at))
    return body.decode("utf-8")


def _badge(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.badge import render_svg

    return render_svg(report, ctx)


def _shields(report: Report, ctx: RenderContext) -> str:
    from chatwoot_health.render.badge import render_shields

    return render_shields(report, ctx)


RENDERERS: dict[str, Callable[[Report, RenderContext], str]] = {
    "table": _table,
    "json": _json,
    "csv": _csv,
    "html": _html,
    "markdown": _markdown,
    "nagios": _nagios,
    "prometheus": _prometheus,
    "badge": _badge,
    "shields": _shields,
}
