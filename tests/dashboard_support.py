"""The demo history and pages shared by the dashboard tests, built once per test session.

The history comes from ``chatwoot_health.demo.generate`` (30 days, an outage, a latency spike, a
queue backlog, a silent channel and a monitoring gap); the pages and the JSON reports come from
the CLI (``CliRunner`` on ``chatwoot_health.cli.main``), so the tests compare the page with what
``report --format json`` prints for the same artifacts and window.

The browser set-up of the static page's tests (test_dashboard_browser.py) and the live
dashboard's (test_serve_browser.py) is here too: Debian's Chromium launched through Playwright,
every request but the page's aborted, console errors and CSP violations recorded, axe-core
injected and run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from chatwoot_health.cli import main
from chatwoot_health.config import CONFIG_FILE_ENV, SETTINGS
from chatwoot_health.demo import generate
from chatwoot_health.models.report import BreachOut, Report, SlaOut
from chatwoot_health.render.context import RenderContext
from chatwoot_health.render.html import render
from chatwoot_health.state import Colour

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

AT = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
AT_ISO = "2026-10-15T12:00:00Z"
SEED = 7
#: Debian's Chromium, and the flags this closed network needs (without the background-networking
#: ones, Chromium keeps trying to reach its vendor's hosts).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
INSTALL = "run `.ci/install-browser.sh` as root to install it"
#: The range panel on show.
VISIBLE = "section.panel:not([hidden])"
XSS = "<script>alert(1)</script>"
CHANNEL_MARKUP = "<img src=x onerror=alert(2)>"
INSTANCE_MARKUP = "https://chat.example.com/</script><script>alert(3)</script>"
REASON_MARKUP = "</td></tr></table><b onmouseover=alert(4)>waited</b>"


@dataclass(frozen=True)
class DemoPages:
    directory: Path
    html_path: Path
    html: str
    exit_code: int
    json: dict[str, dict[str, Any]]  # window label → `report --format json` output
    hostile_path: Path
    hostile_html: str
    hostile: Report


_CACHE: dict[Path, DemoPages] = {}


def cli(args: list[str]) -> int:
    """Run the CLI with no setting leaking in from the shell (no Supabase, no config file)."""
    env: dict[str, str | None] = {setting.env: None for setting in SETTINGS}
    env[CONFIG_FILE_ENV] = None
    result = CliRunner(env=env).invoke(main, args, catch_exceptions=False)
    return result.exit_code


def hostile_report(report: Report) -> Report:
    """The demo report with hostile strings wherever Chatwoot or Supabase data is shown."""
    channels = list(report.channels)
    channels[0] = channels[0].model_copy(update={"channel": CHANNEL_MARKUP})
    breaches = [
        BreachOut(
            conversation_id=4242,
            customer_name=XSS,
            channel="Email",
            wait_minutes=37.5,
            reason=REASON_MARKUP,
        ),
        BreachOut(
            conversation_id=4243,
            customer_name="Dana O'Brien & Co",
            channel="SMS",
            wait_minutes=19.0,
            reason=None,
            pending=True,
        ),
    ]
    sla = SlaOut(
        compliance_percent=94.3,
        met=423,
        total=448,
        in_progress=2,
        avg_response_minutes=12.0,
        breaches=25,
        breach_details=breaches,
        status=Colour.YELLOW,
        window=report.window,
    )
    return report.model_copy(update={"channels": channels, "sla": sla, "instance": INSTANCE_MARKUP})


def demo_pages(tmp_path_factory: pytest.TempPathFactory) -> DemoPages:
    """Generate the demo history and render its pages once per session (about 20 s)."""
    base = tmp_path_factory.getbasetemp()
    if base in _CACHE:
        return _CACHE[base]
    root = tmp_path_factory.mktemp("dashboard")
    directory = root / "artifacts"
    directory.mkdir()
    generate(directory, AT - timedelta(seconds=30), SEED)
    common = ["report", "--artifacts-dir", str(directory), "--at", AT_ISO]
    html_path = root / "dashboard.html"
    exit_code = cli([*common, "--window", "30d", "--format", "html", "-o", str(html_path)])
    reports: dict[str, dict[str, Any]] = {}
    for label in ("24h", "30d"):
        out = root / f"report-{label}.json"
        cli([*common, "--window", label, "--format", "json", "-o", str(out)])
        reports[label] = json.loads(out.read_text(encoding="utf-8"))
    hostile = hostile_report(Report.model_validate(reports["30d"]))
    hostile_html = render(hostile, RenderContext(ranges=(("30d", hostile),), default_range="30d"))
    hostile_path = root / "hostile.html"
    hostile_path.write_text(hostile_html, encoding="utf-8")
    pages = DemoPages(
        directory=directory,
        html_path=html_path,
        html=html_path.read_text(encoding="utf-8"),
        exit_code=exit_code,
        json=reports,
        hostile_path=hostile_path,
        hostile_html=hostile_html,
        hostile=hostile,
    )
    _CACHE[base] = pages
    return pages


# --------------------------------------------------------------------------- metrics


def resolve(report: dict[str, Any], path: str) -> Any:
    """``channels.0.messages`` → report["channels"][0]["messages"]; check names may hold dots,
    so ``by_check`` takes the rest of the path up to the last part as the key."""
    parts = path.split(".")
    node: Any = report
    index = 0
    while index < len(parts):
        part = parts[index]
        if isinstance(node, list):
            node = node[int(part)]
        elif part in node:
            node = node[part]
        else:  # a key with dots in it
            for end in range(len(parts), index, -1):
                key = ".".join(parts[index:end])
                if key in node:
                    node = node[key]
                    index = end - 1
                    break
            else:
                raise KeyError(path)
        index += 1
    return node


def display(value: Any) -> str | None:
    """How the page shows a number of the JSON report (None: shown as a word, not checked)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    return format(value, ",")


def required_metrics(report: dict[str, Any]) -> set[str]:
    """The numbers every page must show for this report."""
    names = {
        "status",
        "uptime.percent",
        "uptime.checks_up",
        "uptime.checks_down",
        "uptime.runs_seen",
        "uptime.expected_checks",
        "response_time.median_ms",
        "response_time.p90_ms",
        "response_time.samples",
        "conversations.open",
        "conversations.pending",
        "conversations.resolved",
        "conversations.snoozed",
    }
    if report["response_time"]["p99_ms"] is not None:
        names.add("response_time.p99_ms")
    for check in report["response_time"]["by_check"]:
        names |= {f"response_time.by_check.{check}.{k}" for k in ("median_ms", "p90_ms")}
    for index, _channel in enumerate(report["channels"]):
        names |= {f"channels.{index}.messages", f"channels.{index}.share_percent"}
    names |= {f"alerts.{index}.title" for index in range(len(report["alerts"]))}
    return names


class MetricCollector(HTMLParser):
    """Collects (range, metric, JSON value, text) from ``data-metric`` elements, per range
    section (``<section data-range=...>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str, str]] = []
        self._range = ""
        self._open: list[list[Any]] = []  # [tag, metric, value, text parts, depth]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section" and values.get("data-range"):
            self._range = values["data-range"] or ""
        for item in self._open:
            if item[0] == tag:
                item[4] += 1
        if "data-metric" in values:
            self._open.append([tag, values["data-metric"], values.get("data-value"), [], 1])

    def handle_endtag(self, tag: str) -> None:
        for item in list(self._open):
            if item[0] == tag:
                item[4] -= 1
                if item[4] == 0:
                    self._open.remove(item)
                    self.found.append((self._range, item[1], item[2], "".join(item[3])))

    def handle_data(self, data: str) -> None:
        for item in self._open:
            item[3].append(data)


def metrics_in(html: str, range_label: str) -> list[tuple[str, Any, str]]:
    collector = MetricCollector()
    collector.feed(html)
    collector.close()
    return [
        (metric, json.loads(value or "null"), text)
        for label, metric, value, text in collector.found
        if label == range_label
    ]


# --------------------------------------------------------------------------- the browser

#: Records the page's CSP violations in ``window.__csp`` (an init script: before any page script).
CSP_SPY = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""
_AXE_RUN = (
    "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
    " return r.violations.map(v => ({id: v.id, impact: v.impact,"
    " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
)


def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium for one test module; each module makes it its fixture:
    ``browser = pytest.fixture(scope="module", name="browser")(chromium)``."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: {INSTALL}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def record_errors(page: Page, errors: list[str]) -> None:
    """Append the page's console errors and uncaught exceptions to ``errors``."""
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))


def allow_only(page: Page, url: str, blocked: list[str]) -> None:
    """Abort every request but the one for ``url``, appending each aborted URL to ``blocked``."""

    def route(route: Route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)


def watch_csp(context: BrowserContext) -> None:
    """Record the CSP violations of every page of ``context`` (read with :func:`csp_violations`)."""
    context.add_init_script(CSP_SPY)


def csp_violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__csp")
    return found


def axe_scan(page: Page, *, inject: bool = True) -> list[dict[str, Any]]:
    """axe-core's violations on the page as ``{id, impact, nodes}`` (the first five targets);
    ``inject=False`` runs it again on a page it was already injected into. axe is injected as a
    script: a page under a CSP needs a context with ``bypass_csp=True``."""
    if inject:
        if not AXE.exists():
            pytest.fail(f"{AXE} is missing: {INSTALL}")
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
    return found


def serious(violations: list[dict[str, Any]]) -> list[str]:
    """The serious and critical violations, as ``<rule id> <targets>`` lines."""
    return [
        f"{v['id']} {', '.join(v['nodes'][:3])}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
