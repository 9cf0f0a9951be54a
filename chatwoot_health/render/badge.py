"""Status badges: ``--format badge`` (an SVG, "chatwoot | 99.87 % up · OK") and ``--format
shields`` (a shields.io endpoint JSON). Both carry the state word, never the colour alone."""

from __future__ import annotations

import json
from html import escape

from chatwoot_health.models.report import Report
from chatwoot_health.render.context import RenderContext
from chatwoot_health.render.gate import gated_state
from chatwoot_health.state import State

LABEL = "chatwoot"
#: Background of the message (hex) and its shields.io colour name, per state.
COLOURS = {
    State.OK: ("#2e7d32", "brightgreen"),
    State.WARNING: ("#8a6d00", "yellow"),
    State.CRITICAL: ("#c62828", "red"),
    State.UNKNOWN: ("#616161", "lightgrey"),
}
LABEL_COLOUR = "#555"
#: Average advance of an 11 px Verdana glyph, for the width of a text box.
CHAR_WIDTH = 7.0
PADDING = 10


def message(report: Report, ctx: RenderContext) -> tuple[State, str]:
    """``99.87 % up · OK``: the window's uptime (two decimals) and the gate's state word."""
    state = gated_state(report.alerts, ctx.fail_on)
    percent = report.uptime.percent
    uptime = "no data" if percent is None else f"{percent:.2f} % up"
    return state, f"{uptime} · {state.word}"


def render_shields(report: Report, ctx: RenderContext) -> str:
    state, text = message(report, ctx)
    body = {"schemaVersion": 1, "label": LABEL, "message": text, "color": COLOURS[state][1]}
    return json.dumps(body, ensure_ascii=False) + "\n"


def _width(text: str) -> int:
    return int(len(text) * CHAR_WIDTH + PADDING * 2)


def render_svg(report: Report, ctx: RenderContext) -> str:
    state, text = message(report, ctx)
    background = COLOURS[state][0]
    left, right = _width(LABEL), _width(text)
    total = left + right
    window = report.uptime.window.label
    title = escape(f"{LABEL}: {text} (uptime over {window})")
    label, shown = escape(LABEL), escape(text)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-labelledby="title">\n'
        f'  <title id="title">{title}</title>\n'
        f'  <rect width="{left}" height="20" fill="{LABEL_COLOUR}"/>\n'
        f'  <rect x="{left}" width="{right}" height="20" fill="{background}"/>\n'
        f'  <g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        f'font-size="11">\n'
        f'    <text x="{left / 2:g}" y="14">{label}</text>\n'
        f'    <text x="{left + right / 2:g}" y="14">{shown}</text>\n'
        f"  </g>\n"
        f"</svg>\n"
    )
