"""``report --format html`` without a browser: escaping, self-containment, size, and that every
number the page shows is the number ``report --format json`` prints."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatwoot_health.cli import main
from chatwoot_health.models.report import ApprovalsOut, Report, SlaOut, TimelineBucket
from chatwoot_health.render.context import RenderContext
from chatwoot_health.render.html import (
    HEIGHT,
    MIN_SEGMENT,
    Segment,
    _segments,
    alert_lines,
    render,
    script_json,
)
from chatwoot_health.state import Colour
from tests.dashboard_support import (
    AT,
    CHANNEL_MARKUP,
    INSTANCE_MARKUP,
    REASON_MARKUP,
    XSS,
    DemoPages,
    demo_pages,
    display,
    metrics_in,
    required_metrics,
    resolve,
)
from tests.factory import T0, series, write_all


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> DemoPages:
    return demo_pages(tmp_path_factory)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_bodies.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


def panel(html: str, label: str) -> str:
    """The markup of one range's section."""
    start = html.index(f'<section class="panel" id="range-{label}"')
    end = html.find('<section class="panel"', start + 1)
    return html[start : end if end != -1 else len(html)]


def render_one(report: Report) -> str:
    return render(report, RenderContext(ranges=(("30d", report),), default_range="30d"))


# --------------------------------------------------------------------------- the demo page


def test_cli_writes_the_page_with_the_reports_exit_code(pages: DemoPages) -> None:
    assert pages.exit_code == 1  # the demo is WARNING (uptime below target, queue backlog)
    assert pages.html.startswith("<!DOCTYPE html>")
    assert pages.html.rstrip().endswith("</html>")


def test_page_is_self_contained(pages: DemoPages) -> None:
    tags = parse(pages.html)
    urls = [
        (tag, name, value)
        for tag, attrs in tags.tags
        for name, value in attrs.items()
        if name in ("src", "href", "xlink:href", "action", "poster", "srcset")
    ]
    assert urls, "the icons use <use href='#…'>"
    for tag, name, value in urls:
        assert value is not None
        assert value.startswith(("#", "data:")), (tag, name, value)
    assert not [v for _t, a in tags.tags for v in a.values() if v and "://" in v]
    for tag, attrs in tags.tags:
        assert tag not in ("img", "iframe", "object", "embed", "link") or (
            tag == "link" and attrs.get("href") == "data:,"
        ), tag
        if tag == "script":
            assert "src" not in attrs
    scripts = [attrs.get("type") for tag, attrs in tags.tags if tag == "script"]
    assert scripts == ["application/json", None]
    assert "@import" not in pages.html
    assert "url(http" not in pages.html


def test_demo_page_is_under_300_kb(pages: DemoPages) -> None:
    size = len(pages.html.encode("utf-8"))
    assert size < 300 * 1024, size


def test_all_three_ranges_are_in_the_file_and_only_the_default_shows_without_scripts(
    pages: DemoPages,
) -> None:
    sections = re.findall(r'<section class="panel"[^>]*>', pages.html)
    assert [re.search(r'data-range="([^"]+)"', s).group(1) for s in sections] == [  # type: ignore[union-attr]
        "24h",
        "7d",
        "30d",
    ]
    assert [s.endswith(" hidden>") for s in sections] == [True, True, False]
    # The controls need the script; the stale banner is shown only by it.
    assert '<div class="controls" id="controls" hidden>' in pages.html
    assert '<div id="stale" class="banner red" role="alert" hidden>' in pages.html
    assert 'aria-selected="true" tabindex="0" title="Last 30 days">30d</button>' in pages.html


@pytest.mark.parametrize("label", ["30d", "24h"])
def test_every_number_in_the_page_is_the_json_reports(pages: DemoPages, label: str) -> None:
    report = pages.json[label]
    found = metrics_in(pages.html, label)
    assert {metric for metric, _value, _text in found} >= required_metrics(report)
    for metric, value, text in found:
        expected = resolve(report, metric)
        assert value == expected, metric
        shown = display(expected)
        if shown is not None:
            assert shown in text, (metric, shown, text)
    titles = [text for metric, _v, text in found if metric.startswith("alerts.")]
    assert len(titles) == len(report["alerts"])
    for alert, text in zip(report["alerts"], titles, strict=True):
        assert alert["title"] in text


def test_demo_numbers_differ_between_ranges(pages: DemoPages) -> None:
    # What the range selector shows must change: the outage is 9 days back.
    assert pages.json["24h"]["uptime"]["percent"] == 100.0
    assert pages.json["30d"]["uptime"]["percent"] == 99.866
    assert '<span data-metric="uptime.percent" data-value="99.866">99.866%</span>' in pages.html
    assert '<span data-metric="uptime.percent" data-value="100.0">100.0%</span>' in pages.html


def test_timeline_has_one_titled_bar_per_bucket(pages: DemoPages) -> None:
    report = pages.json["30d"]
    section = panel(pages.html, "30d")
    svg = re.search(r'<svg class="tl".*?</svg>', section, re.S)
    assert svg is not None
    titles = re.findall(r"<g><title>([^<]*)</title>", svg.group(0))
    assert len(titles) == len(report["timeline"]) == 30
    for bucket, title in zip(report["timeline"], titles, strict=True):
        missing = max(0, bucket["expected"] - bucket["up"] - bucket["down"])
        assert title.endswith(
            f": {bucket['up']} up, {bucket['down']} down, {missing} not monitored"
        )
    outage = [t for t in titles if " down," in t and not t.endswith(" 0 down, 0 not monitored")]
    assert any(": 278 up, 10 down, 0 not monitored" in t for t in outage)
    assert svg.group(0).count('<rect class="d"') == 1  # one day with downtime
    assert svg.group(0).count('<rect class="g"') == 5  # the four-day gap spans five days


def test_queue_banner_and_alert_format(pages: DemoPages) -> None:
    section = panel(pages.html, "30d")
    assert (
        '<p class="banner yellow"><svg class="i" aria-hidden="true"><use href="#i-warn"/></svg>'
        "<span><strong>CX queue backlog</strong>: 17 conversations pending (more than 10)"
        in section
    )
    assert '<p class="alert-title"><svg class="dot yellow"' in section
    assert "WARNING Chatwoot Alert: High Queue</p>" in section
    assert "<p>Action: Add reviewers or triage the pending queue</p>" in section


# --------------------------------------------------------------------------- hostile strings


def test_hostile_strings_are_escaped(pages: DemoPages) -> None:
    html = pages.hostile_html
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert CHANNEL_MARKUP not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert REASON_MARKUP not in html
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;b onmouseover=alert(4)&gt;" in html
    assert "Dana O&#39;Brien &amp; Co" in html
    tags = parse(html)
    names = [t for t, _a in tags.tags]
    assert "img" not in names and "b" not in names
    assert names.count("table") == 3  # targets, by check, breaches: the reason closed none
    assert [t for t, _a in tags.tags].count("script") == 2
    # The instance also goes into the JSON for the script: it cannot close the element.
    assert "</script><script>alert(3)" not in html
    config = json.loads(tags.script_bodies[0])
    assert config["instance"] == INSTANCE_MARKUP
    assert config["generated_at"] == "2026-10-15T12:00:00.000Z"
    assert config["ranges"] == ["30d"]


def test_script_json_cannot_close_the_element() -> None:
    text = str(script_json({"x": "</script><!-- & \u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"x": "</script><!-- & \u2028"}


# --------------------------------------------------------------------------- section states


def test_sla_states(pages: DemoPages) -> None:
    demo = Report.model_validate(pages.json["30d"])
    not_configured = render_one(demo)
    assert "Set SUPABASE_URL and SUPABASE_KEY to measure the 15-minute review target" in (
        not_configured
    )
    assert 'role="progressbar"' not in not_configured

    html = render_one(pages.hostile)
    assert (
        '<div class="progress yellow" role="progressbar" aria-label="SLA compliance" '
        'aria-valuemin="0" aria-valuemax="100" aria-valuenow="94.3" '
        'aria-valuetext="94.3% (423 of 448 conversations)"><span style="width:94.3%">' in html
    )
    assert "<summary>Breach details (2)</summary>" in html
    assert '<td class="n">37.5 min</td>' in html
    assert "<td>still waiting</td>" in html

    failing = demo.model_copy(
        update={
            "sla": SlaOut(
                status="unknown",
                error="Supabase returned 503 <html>",
                cached_at=datetime(2026, 10, 15, 11, 40, tzinfo=UTC),
            )
        }
    )
    html = render_one(failing)
    assert "SLA data unavailable: Supabase returned 503 &lt;html&gt;" in html
    assert "Using cached data from 2026-10-15 11:40 UTC" in html


def test_red_queue_banner_and_review_queue(pages: DemoPages) -> None:
    demo = Report.model_validate(pages.json["30d"])
    urgent = demo.model_copy(
        update={
            "conversations": demo.conversations.model_copy(
                update={"pending": 25, "banner": "URGENT: High backlog", "status": Colour.RED}
            ),
            "approvals": ApprovalsOut(
                pending=3,
                avg_processing_minutes=2.7,
                estimated_wait_minutes=8.1,
                reviewers_available=1,
                status=Colour.GREEN,
            ),
        }
    )
    html = render_one(urgent)
    assert (
        "<span><strong>URGENT: High backlog</strong>: 25 conversations pending (more than 20)"
        in html
    )
    assert '<p class="banner red">' in html
    assert '<span data-metric="approvals.pending" data-value="3">3</span> pending' in html
    assert '~<span data-metric="approvals.estimated_wait_minutes" data-value="8.1">8.1 min' in html


# --------------------------------------------------------------------------- chart geometry


def bucket(up: int, down: int, expected: int = 288) -> TimelineBucket:
    return TimelineBucket(
        start=AT, end=AT, up=up, down=down, expected=expected, median_ms=None, p90_ms=None
    )


@pytest.mark.parametrize(
    ("up", "down", "expected", "segments"),
    [
        (288, 0, 288, [Segment(0.0, 40.0, "up")]),
        (144, 0, 288, [Segment(20.0, 20.0, "up"), Segment(0.0, 20.0, "gap")]),
        (0, 0, 288, [Segment(0.0, 40.0, "gap")]),
        (0, 12, 12, [Segment(0.0, 40.0, "down")]),
        # ten minutes down in a day is drawn MIN_SEGMENT tall, taken from the up share
        (278, 10, 288, [Segment(3.0, 37.0, "up"), Segment(0.0, 3.0, "down")]),
        # one run in a monitoring gap stays visible
        (1, 0, 288, [Segment(37.0, 3.0, "up"), Segment(0.0, 37.0, "gap")]),
        # more runs than expected (a late cron) never draws a negative gap
        (13, 0, 12, [Segment(0.0, 40.0, "up")]),
        (0, 0, 0, [Segment(0.0, 40.0, "gap")]),
    ],
)
def test_timeline_segments(up: int, down: int, expected: int, segments: list[Segment]) -> None:
    result = _segments(bucket(up, down, expected))
    assert list(result) == segments
    assert sum(s.height for s in result) == HEIGHT
    assert all(s.height >= MIN_SEGMENT for s in result)


def test_alert_lines_split_the_spec_icon() -> None:
    assert alert_lines("🔴 CRITICAL Chatwoot Alert: Service Down\nRails failed") == (
        "red",
        ["CRITICAL Chatwoot Alert: Service Down", "Rails failed"],
    )
    assert alert_lines("🟡 WARNING Chatwoot Alert: X") == ("yellow", ["WARNING Chatwoot Alert: X"])
    assert alert_lines("plain") == (None, ["plain"])


def test_an_outage_with_sparse_data_renders(runner: CliRunner, tmp_path: Path) -> None:
    start = T0 - timedelta(minutes=20)
    write_all(tmp_path, series(start, 2, pending=None, agent="online"))
    down = series(start + timedelta(minutes=10), 3, up=False, error="502 <b>Bad Gateway</b>")
    write_all(tmp_path, down)
    out = tmp_path / "page.html"
    at = "2026-11-27T12:00:00Z"
    args = ["report", "--artifacts-dir", str(tmp_path), "--at", at, "--window", "24h"]
    result = runner.invoke(main, [*args, "--format", "html", "-o", str(out)])
    assert result.exit_code == 2, result.output
    html = out.read_text(encoding="utf-8")
    assert html.count('<section class="panel"') == 3  # 7d and 30d read the same few runs
    section = panel(html, "24h")
    assert 'aria-label="Overall status: Critical"' in section
    assert 'aria-label="Service: Down">' in section
    assert "<span>502 &lt;b&gt;Bad Gateway&lt;/b&gt;</span>" in section
    assert "No data: the conversations probe has not succeeded in this window." in section
    assert '<li class="banner red" data-metric="alerts.0.title"' in section
    assert 'data-value="&#34;Service Down&#34;">' in section
    assert "CRITICAL Chatwoot Alert: Service Down</p>" in section
    bars = re.findall(r"<g><title>([^<]*)</title>(.*?)</g>", section)
    assert len(bars) == 24
    assert bars[-1][0] == "2026-11-27 11:00 UTC–12:00 UTC: 2 up, 3 down, 7 not monitored"
    assert [kind for kind in re.findall(r'class="(\w)"', bars[-1][1])] == ["u", "d", "g"]
    assert bars[0][1].count('class="g"') == 1  # nothing monitored yet: all grey


def test_without_window_the_page_shows_the_report_as_the_cli_computes_it(
    pages: DemoPages, tmp_path: Path
) -> None:
    """What cron runs (no --window): the first, shown range is the default report, whose exit
    code and JSON use each section's own window (channels 24 h, uptime 30 d)."""
    from tests.dashboard_support import AT_ISO, cli

    common = ["report", "--artifacts-dir", str(pages.directory), "--at", AT_ISO]
    page, data = tmp_path / "page.html", tmp_path / "report.json"
    assert cli([*common, "--format", "html", "-o", str(page)]) == pages.exit_code
    cli([*common, "--format", "json", "-o", str(data)])
    html, report = page.read_text(encoding="utf-8"), json.loads(data.read_text(encoding="utf-8"))
    sections = re.findall(r'<section class="panel"[^>]*>', html)
    labels = [re.search(r'data-range="([^"]+)"', s).group(1) for s in sections]  # type: ignore[union-attr]
    assert labels == ["Default", "24h", "7d", "30d"]
    assert [s.endswith(" hidden>") for s in sections] == [False, True, True, True]
    for metric, value, _text in metrics_in(html, "Default"):
        assert value == resolve(report, metric), metric
    assert report["channels_meta"]["window"]["label"] == "24h"
