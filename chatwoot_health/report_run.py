"""Run ``report`` end to end: build, add the Supabase sections, notify, render.

The CLI calls :func:`run_report`; it returns text and an exit code and never exits or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from chatwoot_health.config import ConfigError
from chatwoot_health.render.report import DEFAULT_RANGE, RENDERERS, RenderContext
from chatwoot_health.report import (
    NoData,
    ReportOptions,
    SectionProvider,
    build_report,
    section_windows,
)
from chatwoot_health.report_model import Report
from chatwoot_health.state import ExitCode

HTML_RANGES = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))


@dataclass(frozen=True)
class ReportRun:
    text: str
    exit_code: ExitCode
    diagnostics: list[str]


def _supabase_settings(values: dict[str, Any]) -> Any:
    url, key = values.get("supabase_url"), values.get("supabase_key")
    if url is None and key is None:
        return None
    if url is None or key is None:
        missing = "SUPABASE_URL" if url is None else "SUPABASE_KEY"
        raise ConfigError(f"{missing} is not set: SUPABASE_URL and SUPABASE_KEY go together")
    from chatwoot_health.sources.supabase import SupabaseSettings

    return SupabaseSettings(
        url=url,
        key=key,
        timeout=values["supabase_timeout"],
        decision_log=values["table_decision_log"],
        approvals_history=values["table_approvals_history"],
        notifications=values["table_notifications"],
    )


def run_report(
    options: ReportOptions,
    values: dict[str, Any],
    *,
    fmt: str,
    detailed: bool,
    colour: bool,
    notify: bool,
) -> ReportRun:
    """Raises :class:`NoData` (nothing to report) or :class:`ConfigError` (bad settings)."""
    settings = _supabase_settings(values)
    if notify and settings is None:
        raise ConfigError("SUPABASE_URL is not set: --notify records alerts in Supabase")
    provider = None
    if settings is not None:
        from chatwoot_health.supabase_sections import SupabaseProvider

        starts = [section_windows(options)["sla"].start]
        if fmt == "html":
            starts += [options.now - length for _, length in HTML_RANGES]
        provider = SupabaseProvider(
            settings,
            values["cache_dir"],
            options.now,
            options.calendar,
            options.sla_target,
            fetch_start=min(starts),
            live=options.live,
        )
    try:
        outcome = build_report(options, extra=provider)
        diagnostics = list(outcome.skipped)
        context = RenderContext(detailed=detailed, colour=colour)
        if fmt == "html":
            context = html_context(options, outcome.report, provider)
        if provider is not None:
            diagnostics += provider.diagnostics
            if notify:
                diagnostics += _notify(provider, outcome.report, values)
    finally:
        if provider is not None:
            provider.close()
    text = RENDERERS[fmt](outcome.report, context)
    return ReportRun(text, outcome.exit_code, diagnostics)


def _notify(provider: Any, report: Report, values: dict[str, Any]) -> list[str]:
    from chatwoot_health.sources.supabase import SupabaseError

    if provider.source is None:
        return [f"notifications not recorded: {provider.error or 'Supabase unavailable'}"]
    webhook = values.get("alert_webhook_url")
    try:
        result = provider.source.sync_notifications(
            report.alerts, report.instance or "unknown", report.generated_at, webhook
        )
    except SupabaseError as exc:
        return [f"notifications not recorded: {exc}"]
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
