"""Run ``report`` end to end: build, add the Supabase sections, notify, render.

The CLI calls :func:`run_report` with typed settings; it returns text and an exit code and never
exits or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chatwoot_health.models.alert import Severity
from chatwoot_health.models.report import Report
from chatwoot_health.render.context import DEFAULT_RANGE, HTML_RANGES, LiveBlock, RenderContext
from chatwoot_health.render.gate import gated_state
from chatwoot_health.render.report import RENDERERS
from chatwoot_health.report.build import NoData, SectionProvider, build_report
from chatwoot_health.report.options import ReportOptions, ReportSettings, section_windows
from chatwoot_health.state import ExitCode

if TYPE_CHECKING:
    from chatwoot_health.report.supabase import SupabaseProvider


class NotifyUnavailable(Exception):
    """``--notify`` without Supabase settings; the message is one line."""


@dataclass(frozen=True)
class ReportRun:
    text: str
    #: The verdict under ``fail_on``: the worst alert at or above it (OK when none is).
    exit_code: ExitCode
    diagnostics: list[str]
    report: Report | None = None


def run_report(
    options: ReportOptions,
    settings: ReportSettings,
    *,
    fmt: str,
    detailed: bool,
    colour: bool,
    notify: bool,
    live: LiveBlock | None = None,
    fail_on: Severity = Severity.WARNING,
) -> ReportRun:
    """Raises :class:`NoData` (nothing to report) or :class:`NotifyUnavailable`. ``live`` is
    what ``serve`` adds to the dashboard page."""
    if notify and settings.supabase is None:
        raise NotifyUnavailable("SUPABASE_URL is not set: --notify records alerts in Supabase")
    provider = _provider(options, settings, fmt)
    try:
        outcome = build_report(options, extra=provider)
        diagnostics = list(outcome.skipped)
        context = RenderContext(detailed=detailed, colour=colour)
        if fmt == "html":
            context = replace(html_context(options, outcome.report, provider), live=live)
        context = replace(context, fail_on=fail_on, min_uptime=options.min_uptime)
        if provider is not None:
            diagnostics += provider.diagnostics
            if notify:
                diagnostics += _notify(provider, outcome.report, settings)
    finally:
        if provider is not None:
            provider.close()
    text = RENDERERS[fmt](outcome.report, context)
    verdict = gated_state(outcome.report.alerts, fail_on).exit_code
    return ReportRun(text, verdict, diagnostics, outcome.report)


def _provider(
    options: ReportOptions, settings: ReportSettings, fmt: str
) -> SupabaseProvider | None:
    if settings.supabase is None:
        return None
    from chatwoot_health.report.supabase import SupabaseProvider

    starts = [section_windows(options).sla.start]
    if fmt == "html":
        starts += [options.now - length for _, length in HTML_RANGES]
    return SupabaseProvider(
        settings.supabase,
        settings.cache_dir,
        options.now,
        options.calendar,
        options.sla_target,
        fetch_start=min(starts),
        live=options.live,
    )


def _notify(provider: SupabaseProvider, report: Report, settings: ReportSettings) -> list[str]:
    from chatwoot_health.notify.webhook import WebhookSink
    from chatwoot_health.report.notifications import sync_notifications
    from chatwoot_health.sources.supabase import SupabaseError

    if provider.source is None:
        return [f"notifications not recorded: {provider.error or 'Supabase unavailable'}"]
    url = settings.alert_webhook_url
    sink = WebhookSink(url, provider.settings.timeout) if url else None
    try:
        result = sync_notifications(
            provider.source, report.alerts, report.instance or "unknown", report.generated_at, sink
        )
    except SupabaseError as exc:
        return [f"notifications not recorded: {exc}"]
    finally:
        if sink is not None:
            sink.close()
    lines = []
    if result.started:
        lines.append("notified: " + ", ".join(result.started))
    if result.resolved:
        lines.append("resolved: " + ", ".join(result.resolved))
    lines += [f"webhook failed: {error}" for error in result.webhook_errors]
    return lines


def html_context(
    options: ReportOptions, report: Report, provider: SectionProvider | None = None
) -> RenderContext:
    """The page carries the report as asked for and the 24 h / 7 d / 30 d ranges.

    Without ``--window`` the report as asked for (each section's own window, which the exit
    code and the JSON report use too) is the first range, "Default", and shown first; with one
    of the three windows, that range is shown first; with another window, it is added first.
    """
    ranges: list[tuple[str, Report]] = []
    default = next((label for label, length in HTML_RANGES if options.window == length), None)
    if options.window is None:
        ranges.append((DEFAULT_RANGE, report))
        default = DEFAULT_RANGE
    elif default is None:
        ranges.append((report.window.label, report))
        default = report.window.label
    for label, length in HTML_RANGES:
        if options.window == length:
            ranges.append((label, report))
            continue
        try:
            ranges.append(
                (label, build_report(replace(options, window=length), extra=provider).report)
            )
        except NoData:
            continue  # a range with no artifacts is left out of the selector
    return RenderContext(ranges=tuple(ranges), default_range=default)
