"""Run ``report`` end to end: build, add the Supabase sections, notify, render.

The CLI calls :func:`run_report` with typed settings; it returns text and an exit code and never
exits or prints.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chatwoot_health.models.alert import Alert, Severity
from chatwoot_health.models.report import Report
from chatwoot_health.render.context import DEFAULT_RANGE, HTML_RANGES, LiveBlock, RenderContext
from chatwoot_health.render.gate import gated_state
from chatwoot_health.render.report import RENDERERS
from chatwoot_health.report.build import NoData, SectionProvider, build_report
from chatwoot_health.report.options import ReportOptions, ReportSettings, section_windows
from chatwoot_health.state import ExitCode

if TYPE_CHECKING:
    from chatwoot_health.report.supabase import SupabaseProvider


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
    freeze_gc: bool = False,
) -> ReportRun:
    """Raises :class:`NoData` (nothing to report). ``live`` is what ``serve`` adds to the
    dashboard page. With ``notify``, the report's alerts go through the notification engine
    (``check``'s state and channels) and, with Supabase, into the ``notifications`` table.
    ``freeze_gc``: the process exits after this report (the command line): see
    :func:`_gc_for_one_report`. Never in ``serve``, which runs for months."""
    with _gc_for_one_report(freeze_gc):
        provider = _provider(options, settings, fmt)
        try:
            outcome = build_report(options, extra=provider)
            if freeze_gc:
                _UNTIL_EXIT.append(outcome.read)
            diagnostics = list(outcome.skipped)
            context = RenderContext(detailed=detailed, colour=colour)
            if fmt == "html":
                context = replace(html_context(options, outcome.report, provider), live=live)
            context = replace(context, fail_on=fail_on, min_uptime=options.min_uptime)
            if provider is not None:
                diagnostics += provider.diagnostics
            if notify:
                diagnostics += _notify(options, settings, outcome.report, provider)
        finally:
            if provider is not None:
                provider.close()
        text = RENDERERS[fmt](outcome.report, context)
        verdict = gated_state(outcome.report.alerts, fail_on).exit_code
        return ReportRun(text, verdict, diagnostics, outcome.report)


#: What the reports of a process that exits right after them (``freeze_gc``: the command line)
#: read, kept until the exit: freeing a 30-day window's runs object by object costs ~5-10 ms and
#: serves no one (the command line ends with ``os._exit``). Never filled in ``serve``. Neither
#: ``gc.freeze()`` (reference counting still frees what it froze) nor the CLI's local holding
#: the result (released as ``sys.exit`` unwinds, before ``os._exit``) keeps them.
_UNTIL_EXIT: list[object] = []


@contextlib.contextmanager
def _gc_for_one_report(freeze: bool) -> Iterator[None]:
    """A report allocates some millions of acyclic objects (the runs of its window, the output
    models): in a process that exits afterwards, the cyclic garbage collector is paused for the
    whole report and what it made is frozen (``gc.freeze``: later collections never rescan it;
    reference counting still frees it). A long-running process asks for neither: every cycle
    alive at that moment would stay uncollected for good."""
    if not freeze or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


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


def _notify(
    options: ReportOptions,
    settings: ReportSettings,
    report: Report,
    provider: SupabaseProvider | None,
) -> list[str]:
    from chatwoot_health.notify import default_state_path
    from chatwoot_health.report.notifications import mirror_lines, notify_alerts

    state_path = settings.state_path or default_state_path(settings.artifacts_dir)
    instance = report.instance or "unknown"

    def previous_alerts() -> Sequence[Alert]:
        """Asked only by a new state database: the alerts one interval ago, recorded as open
        without being sent again (they were, by the runs that owned the lost database)."""
        earlier = replace(options, now=options.now - settings.interval, live=False)
        try:
            return build_report(earlier, extra=provider).report.alerts
        except NoData:
            return []

    lines = notify_alerts(
        report.alerts,
        report.generated_at,
        instance,
        state_path=state_path,
        channels=settings.channels,
        pushed=settings.pushed,
        previous_alerts=previous_alerts,
    )
    if provider is not None:
        lines += mirror_lines(
            provider.source,
            provider.error,
            state_path,
            instance,
            report.generated_at,
            settings.pushed,
        )
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
