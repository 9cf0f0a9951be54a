"""What a renderer is given beside the report: the renderers depend on this module, and it on
nothing but the report model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from markupsafe import Markup

from chatwoot_health.models.alert import Severity
from chatwoot_health.models.report import Report

#: The HTML range that shows the report as asked for without --window (each section's own window).
DEFAULT_RANGE = "Default"
#: The dashboard's range selector, beside the report as asked for.
HTML_RANGES = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))


@dataclass(frozen=True)
class LiveBlock:
    """What ``serve`` adds to the dashboard page; None (the default) in ``report --format html``.

    ``head``, ``controls`` (beside the range selector), ``body`` (after the page) and ``script``
    are trusted markup that ``serve`` rendered itself; ``nonce`` goes on every ``<style>`` and
    ``<script>``.
    With a live block the page carries no style attribute, so it passes a strict CSP.
    """

    nonce: str
    head: Markup
    controls: Markup
    body: Markup
    script: Markup


@dataclass(frozen=True)
class RenderContext:
    detailed: bool = False
    colour: bool = False
    #: The same report for each window of the HTML range selector, e.g. (("24h", r1), ("7d", r2),
    #: ("30d", r3)); the page shows ``default_range`` first (and alone without scripts).
    ranges: tuple[tuple[str, Report], ...] = ()
    default_range: str = "30d"
    live: LiveBlock | None = None
    #: ``--fail-on``: the alerts at or above it are the failing criteria and make the verdict.
    fail_on: Severity = Severity.WARNING
    #: ``--min-uptime``: the Nagios perfdata's critical uptime threshold.
    min_uptime: float | None = None
