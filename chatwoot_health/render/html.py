"""``report --format html``: the dashboard as one self-contained page.

Jinja2 with autoescaping renders every range of ``RenderContext.ranges`` into the file (the
default one visible, the others ``hidden``), so the page works from ``file://`` with no server,
no network and no script; the small inline script only switches ranges, keeps "last updated"
current and reloads. Chart geometry is computed here, in Python, so the template only places
numbers; numbers the CLI also prints carry ``data-metric`` (a path into the JSON report) and
``data-value`` (its JSON value), which the browser tests compare with ``report --format json``.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from chatwoot_health.models.report import Report, TimelineBucket
from chatwoot_health.render.context import DEFAULT_RANGE, RenderContext
from chatwoot_health.state import Colour, State
from chatwoot_health.thresholds import DASHBOARD_STALE_AFTER_MINUTES as STALE_AFTER_MINUTES

AUTO_REFRESH_MINUTES = 5
MAX_BREACH_ROWS = 50

#: Chart coordinates: each bucket is SLOT units wide; bars are HEIGHT units tall.
SLOT = 10
HEIGHT = 40
TREND_HEIGHT = 100
#: A non-empty down or missing share is drawn at least this tall, so that ten minutes of
#: downtime in a day stays visible; the bar's title gives the exact counts.
MIN_SEGMENT = 3

OVERALL = {
    State.OK: ("green", "ok", "Operational"),
    State.WARNING: ("yellow", "warn", "Degraded"),
    State.CRITICAL: ("red", "crit", "Critical"),
    State.UNKNOWN: ("grey", "unknown", "Unknown"),
}
COLOUR_ICON = {"green": "ok", "yellow": "warn", "red": "crit", "grey": "unknown"}
COLOUR_WORD = {"green": "OK", "yellow": "Warning", "red": "Critical", "grey": "No data"}
CURRENT = {
    "up": ("green", "Operational"),
    "down": ("red", "Down"),
    "unknown": ("grey", "Unknown"),
}
AI_STATE = {
    "online": ("green", "Online"),
    "degraded": ("yellow", "Degraded"),
    "offline": ("red", "Offline"),
    "not_configured": ("grey", "Not configured"),
    "unknown": ("grey", "Unknown"),
}


@dataclass(frozen=True)
class Segment:
    y: float
    height: float
    kind: str  # up | down | gap


@dataclass(frozen=True)
class Bar:
    x: int
    title: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Timeline:
    width: int
    bars: tuple[Bar, ...]
    step: str  # "hour" | "day"
    summary: str
    start: str
    end: str


@dataclass(frozen=True)
class Trend:
    width: int
    median_path: str
    p90_path: str
    max_ms: float
    summary: str


@dataclass(frozen=True)
class RangeView:
    label: str
    slug: str
    title: str
    report: Report
    timeline: Timeline
    trend: Trend


def _fmt_time(moment: datetime, with_date: bool = True) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if with_date else "%H:%M")


def _step(buckets: list[TimelineBucket]) -> timedelta:
    if not buckets:
        return timedelta(hours=1)
    return max(bucket.end - bucket.start for bucket in buckets)


def _bucket_title(bucket: TimelineBucket, daily: bool) -> str:
    if daily:
        span = bucket.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M") + f"–{_fmt_time(bucket.end)}"
    else:
        span = f"{_fmt_time(bucket.start)}–{_fmt_time(bucket.end, with_date=False)} UTC"
    missing = max(0, bucket.expected - bucket.up - bucket.down)
    return f"{span}: {bucket.up} up, {bucket.down} down, {missing} not monitored"


def _segments(bucket: TimelineBucket) -> tuple[Segment, ...]:
    """Stacked from the bottom: up (green), down (red), missing runs (grey, hatched)."""
    total = max(bucket.expected, bucket.up + bucket.down, 1)
    counts = {"up": bucket.up, "down": bucket.down, "gap": total - bucket.up - bucket.down}
    heights = {kind: count / total * HEIGHT for kind, count in counts.items()}
    for kind, count in counts.items():
        if count and heights[kind] < MIN_SEGMENT:
            heights[kind] = MIN_SEGMENT
    largest = max(heights, key=lambda kind: heights[kind])
    heights[largest] -= sum(heights.values()) - HEIGHT
    segments: list[Segment] = []
    y = float(HEIGHT)
    for kind in ("up", "down", "gap"):
        if counts[kind] <= 0:
            continue
        y -= heights[kind]
        segments.append(Segment(round(y, 2), round(heights[kind], 2), kind))
    return tuple(segments)


def build_timeline(report: Report) -> Timeline:
    buckets = report.timeline
    daily = _step(buckets) >= timedelta(days=1)
    bars = tuple(
        Bar(x=index * SLOT, title=_bucket_title(bucket, daily), segments=_segments(bucket))
        for index, bucket in enumerate(buckets)
    )
    with_down = sum(1 for b in buckets if b.down)
    with_gap = sum(1 for b in buckets if b.up + b.down < b.expected)
    unit = "daily" if daily else "hourly"
    summary = (
        f"Uptime timeline, {len(buckets)} {unit} bars: {with_down} with downtime, "
        f"{with_gap} with monitoring gaps"
    )
    start = _fmt_time(buckets[0].start) if buckets else ""
    end = _fmt_time(buckets[-1].end) if buckets else ""
    return Timeline(
        width=max(1, len(buckets)) * SLOT,
        bars=bars,
        step="day" if daily else "hour",
        summary=summary,
        start=start,
        end=end,
    )


def _path(values: list[float | None], top: float) -> str:
    """An SVG path through the bucket centres; a bucket without data breaks the line, and a
    point with no neighbour becomes a dot (a zero-length stroke with round caps)."""
    runs: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        x = index * SLOT + SLOT / 2
        y = TREND_HEIGHT - value / top * TREND_HEIGHT
        runs[-1].append(f"{x:g} {y:.1f}")
    parts = []
    for run in runs:
        if not run:
            continue
        parts.append("M" + " L".join(run) + (" h0.01" if len(run) == 1 else ""))
    return " ".join(parts)


def build_trend(report: Report) -> Trend:
    buckets = report.timeline
    medians = [b.median_ms for b in buckets]
    p90s = [b.p90_ms for b in buckets]
    known = [v for v in (*medians, *p90s) if v is not None]
    top = max(known) * 1.05 if known else 1.0
    peaks = [(i, v) for i, v in enumerate(p90s) if v is not None]
    if peaks:
        peak_index, peak = max(peaks, key=lambda item: item[1])
        summary = (
            f"Response time trend, median and P90 per bucket; P90 peaked at {peak:g} ms "
            f"({_fmt_time(buckets[peak_index].start)})"
        )
    else:
        summary = "Response time trend: no successful checks in this window"
    return Trend(
        width=max(1, len(buckets)) * SLOT,
        median_path=_path(medians, top),
        p90_path=_path(p90s, top),
        max_ms=round(top, 1),
        summary=summary,
    )


# --------------------------------------------------------------------------- filters


def _num(value: float | int | None) -> str:
    """The JSON report's value, grouped by thousands: 59834 → 59,834; 99.866 → 99.866."""
    if value is None:
        return "–"
    return format(value, ",")


def _plain(value: float | int | None) -> str:
    """A setting rather than a measurement: 15.0 → 15, 5000.0 → 5,000."""
    if value is None:
        return "–"
    return format(value, ",g") if isinstance(value, float) else format(value, ",")


#: The spec's alert icons; drawn as SVG dots because many servers have no colour-emoji font.
ALERT_DOTS = {"\N{LARGE RED CIRCLE}": "red", "\N{LARGE YELLOW CIRCLE}": "yellow"}


def alert_lines(text: str) -> tuple[str | None, list[str]]:
    """The alert's lines, with the leading 🔴/🟡 of the first line split off as a colour."""
    lines = text.splitlines() or [""]
    head, _, rest = lines[0].partition(" ")
    if head in ALERT_DOTS:
        return ALERT_DOTS[head], [rest, *lines[1:]]
    return None, lines


def _json_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _when(moment: datetime | None) -> str:
    return "–" if moment is None else _fmt_time(moment)


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _width(percent: float | None) -> str:
    """A CSS width for a share bar, clamped to 0–100 %."""
    value = 0.0 if percent is None else min(100.0, max(0.0, percent))
    return f"{value:g}%"


def _colour(value: Colour | str) -> str:
    return value.value if isinstance(value, Colour) else str(value)


def script_json(data: object) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` survive,
    so a hostile string can neither close the element nor open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


@functools.cache
def environment() -> Environment:
    """Built once per process: loading and compiling the templates is most of a render."""
    env = Environment(
        loader=PackageLoader("chatwoot_health", "render/templates"),
        autoescape=select_autoescape(["html", "j2"], default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        {
            "num": _num,
            "n": _plain,
            "alert_lines": alert_lines,
            "jv": _json_value,
            "when": _when,
            "iso": _iso,
            "width": _width,
            "colour": _colour,
        }
    )
    env.globals.update(
        OVERALL=OVERALL,
        COLOUR_ICON=COLOUR_ICON,
        COLOUR_WORD=COLOUR_WORD,
        CURRENT=CURRENT,
        AI_STATE=AI_STATE,
        SLOT=SLOT,
        HEIGHT=HEIGHT,
        TREND_HEIGHT=TREND_HEIGHT,
        MAX_BREACH_ROWS=MAX_BREACH_ROWS,
    )
    return env


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "range"


def _title(label: str) -> str:
    if label == DEFAULT_RANGE:
        return "Default view: each section's own window"
    match = re.fullmatch(r"(\d+)([hdmw])", label)
    if not match:
        return f"Last {label}"
    count, unit = int(match.group(1)), match.group(2)
    word = {"m": "minute", "h": "hour", "d": "day", "w": "week"}[unit]
    return f"Last {count} {word}{'s' if count != 1 else ''}"


def range_views(report: Report, ctx: RenderContext) -> list[RangeView]:
    ranges = ctx.ranges or ((report.window.label, report),)
    return [
        RangeView(
            label=label,
            slug=_slug(label),
            title=_title(label),
            report=item,
            timeline=build_timeline(item),
            trend=build_trend(item),
        )
        for label, item in ranges
    ]


def render(report: Report, ctx: RenderContext) -> str:
    views = range_views(report, ctx)
    labels = [view.label for view in views]
    default = ctx.default_range if ctx.default_range in labels else labels[0]
    shown = next(view for view in views if view.label == default)
    config: dict[str, Any] = {
        "generated_at": _iso(report.generated_at),
        "instance": report.instance,
        "default_range": default,
        "ranges": labels,
        "stale_after_minutes": STALE_AFTER_MINUTES,
        "auto_refresh_minutes": AUTO_REFRESH_MINUTES,
    }
    template = environment().get_template("dashboard.html.j2")
    return template.render(
        report=report,
        shown=shown,
        views=views,
        default=default,
        config=script_json(config),
        stale_after_minutes=STALE_AFTER_MINUTES,
        auto_refresh_minutes=AUTO_REFRESH_MINUTES,
        live=ctx.live,
        nonce=Markup(' nonce="{}"').format(ctx.live.nonce) if ctx.live else "",
    )
