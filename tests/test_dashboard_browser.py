"""The dashboard in a real headless Chromium (Debian's, driven by Playwright for Python).

Needs /usr/bin/chromium and node_modules/axe-core: `.ci/install-browser.sh` installs both. The
page is opened from file:// with every other request aborted and recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard_support import (
    AT,
    CHANNEL_MARKUP,
    INSTANCE_MARKUP,
    VISIBLE,
    XSS,
    DemoPages,
    allow_only,
    axe_scan,
    chromium,
    demo_pages,
    display,
    record_errors,
    required_metrics,
    resolve,
    serious,
)

pytestmark = pytest.mark.browser


def assert_open(details: Any, expected: bool) -> None:
    """``<details>`` open or not, waiting for the page's own toggle handlers (they run as a task
    after the state change, so an immediate read can race them)."""
    if expected:
        expect(details).to_have_attribute("open", "")
    else:
        expect(details).not_to_have_attribute("open", re.compile(".*"))


FRESH = AT + timedelta(minutes=1)


@dataclass
class Opened:
    page: Page
    url: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def expand(self) -> None:
        details = self.page.locator(f"{VISIBLE} details.more")
        if details.get_attribute("open") is None:
            details.locator("> summary").click()
        assert_open(details, True)

    def select(self, label: str) -> None:
        self.page.get_by_role("tab", name=label, exact=True).click()
        assert self.page.locator(VISIBLE).get_attribute("data-range") == label


OpenPage = Callable[..., Opened]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> DemoPages:
    return demo_pages(tmp_path_factory)


browser = pytest.fixture(scope="module", name="browser")(chromium)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    contexts = []

    def _open(
        path: Path,
        *,
        width: int = 1280,
        at: datetime | None = FRESH,
        scheme: str = "light",
        js: bool = True,
    ) -> Opened:
        context = browser.new_context(
            viewport={"width": width, "height": 900},
            java_script_enabled=js,
            color_scheme=scheme,  # type: ignore[arg-type]
        )
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page, path.as_uri())
        allow_only(page, opened.url, opened.blocked)
        page.on("request", lambda request: opened.requests.append(request.url))
        record_errors(page, opened.errors)

        def dialog(d: Any) -> None:
            opened.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        if at is not None:
            page.clock.install(time=at)
        page.goto(opened.url)
        return opened

    yield _open
    for context in contexts:
        context.close()


def assert_quiet(opened: Opened) -> None:
    assert opened.blocked == []
    assert opened.requests == [opened.url]
    assert opened.errors == []
    assert opened.dialogs == []


# --------------------------------------------------------------------------- loading


def test_loads_offline_with_no_request_and_no_error(pages: DemoPages, open_page: OpenPage) -> None:
    opened = open_page(pages.html_path)
    page = opened.page
    assert page.title() == "Chatwoot Status: Degraded — https://chat.example.com"
    assert page.locator("#controls").is_visible()  # the script ran
    opened.expand()
    for label in ("24h", "7d", "30d"):
        opened.select(label)
    page.locator("#refresh").focus()
    assert_quiet(opened)


def test_without_scripts_the_default_range_shows(pages: DemoPages, open_page: OpenPage) -> None:
    opened = open_page(pages.html_path, js=False, at=None)
    page = opened.page
    assert page.locator("#range-30d").is_visible()
    assert not page.locator("#range-24h").is_visible()
    assert not page.locator("#range-7d").is_visible()
    assert not page.locator("#controls").is_visible()
    assert page.locator("noscript").count() == 1
    assert "Scripts are off: this is the last 30 days." in page.inner_text("body")
    # <details> needs no script
    opened.expand()
    assert page.get_by_role("heading", name="Service uptime (last 30d)").is_visible()
    assert_quiet(opened)


# --------------------------------------------------------------------------- expand / collapse


def test_view_detailed_health_by_click(pages: DemoPages, open_page: OpenPage) -> None:
    opened = open_page(pages.html_path)
    page = opened.page
    details = page.locator(f"{VISIBLE} details.more")
    summary = details.locator("> summary")
    uptime = page.get_by_role("heading", name="Service uptime (last 30d)")
    assert summary.inner_text() == "View detailed health"
    assert_open(details, False)
    assert not uptime.is_visible()
    summary.click()
    assert_open(details, True)
    assert uptime.is_visible()
    summary.click()
    assert_open(details, False)
    assert not uptime.is_visible()


def test_view_detailed_health_by_keyboard(pages: DemoPages, open_page: OpenPage) -> None:
    opened = open_page(pages.html_path)
    page = opened.page
    details = page.locator(f"{VISIBLE} details.more")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('section.panel:not([hidden]) summary')"):
            break
    else:
        pytest.fail("Tab never reached 'View detailed health'")
    page.keyboard.press("Enter")
    assert_open(details, True)
    page.keyboard.press("Space")
    assert_open(details, False)
    page.keyboard.press("Space")
    assert_open(details, True)
    # The detailed view stays open across ranges.
    opened.select("24h")
    assert_open(page.locator("#range-24h details.more"), True)


def test_breach_table_by_click_and_keyboard(pages: DemoPages, open_page: OpenPage) -> None:
    opened = open_page(pages.hostile_path)
    page = opened.page
    opened.expand()
    breaches = page.locator("details.breaches")
    summary = breaches.locator("> summary")
    table = breaches.get_by_role("region", name="Conversations that breached the SLA")
    assert summary.inner_text() == "Breach details (2)"
    assert not table.is_visible()
    summary.click()
    assert table.is_visible()
    assert table.locator("tbody tr").count() == 2
    summary.click()
    assert not table.is_visible()
    summary.focus()
    page.keyboard.press("Enter")
    assert table.is_visible()
    page.keyboard.press("Space")
    assert not table.is_visible()
    assert_quiet(opened)


# --------------------------------------------------------------------------- range selector


def test_range_switch_changes_the_numbers(pages: DemoPages, open_page: OpenPage) -> None:
    opened = open_page(pages.html_path)
    page = opened.page

    def uptime() -> str:
        return page.locator(f'{VISIBLE} .tiles [data-metric="uptime.percent"]').inner_text()

    def selected() -> list[str]:
        return page.locator('[role="tab"][aria-selected="true"]').all_inner_texts()

    assert selected() == ["30d"]
    assert uptime() == "99.866%"
    opened.select("24h")
    assert selected() == ["24h"]
    assert uptime() == "100.0%"
    assert page.locator("#range-30d").is_hidden()
    opened.select("30d")
    assert uptime() == "99.866%"

    # Keyboard: the selected tab is the tablist's one stop in the tab order ...
    page.locator("#refresh").focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent") == "30d"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.tagName") == "BODY"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "30d"
    # ... and arrows, Home and End move the selection.
    page.keyboard.press("ArrowLeft")
    assert selected() == ["7d"]
    assert page.evaluate("document.activeElement.textContent") == "7d"
    assert page.locator(VISIBLE).get_attribute("data-range") == "7d"
    page.keyboard.press("Home")
    assert selected() == ["24h"]
    assert uptime() == "100.0%"
    page.keyboard.press("End")
    assert selected() == ["30d"]
    page.keyboard.press("ArrowRight")  # wraps around
    assert selected() == ["24h"]
    assert page.locator('[role="tab"][tabindex="0"]').all_inner_texts() == ["24h"]
    assert_quiet(opened)


@pytest.mark.parametrize("label", ["30d", "24h"])
def test_page_numbers_match_the_cli_json(pages: DemoPages, open_page: OpenPage, label: str) -> None:
    opened = open_page(pages.html_path)
    opened.select(label)
    opened.expand()
    found: list[list[str]] = opened.page.eval_on_selector_all(
        f"#range-{label} [data-metric]",
        "els => els.map(e => [e.dataset.metric, e.dataset.value, e.innerText])",
    )
    report = pages.json[label]
    assert {metric for metric, _v, _t in found} >= required_metrics(report)
    for metric, value, text in found:
        expected = resolve(report, metric)
        assert json.loads(value) == expected, metric
        shown = display(expected)
        if shown is not None:
            assert shown in text, (metric, shown, text)
    titles = [text for metric, _v, text in found if metric.startswith("alerts.")]
    assert len(titles) == len(report["alerts"]) > 0
    for alert, text in zip(report["alerts"], titles, strict=True):
        assert alert["title"] in text


# --------------------------------------------------------------------------- refresh


def test_stale_banner_when_old_and_not_when_fresh(pages: DemoPages, open_page: OpenPage) -> None:
    old = open_page(pages.html_path, at=AT + timedelta(minutes=20))
    banner = old.page.locator("#stale")
    assert banner.is_visible()
    assert banner.inner_text().startswith("Unable to refresh metrics (last updated 20 minutes ago)")
    assert old.page.inner_text("#updated") == "20 minutes ago"

    fresh = open_page(pages.html_path, at=AT + timedelta(minutes=3))
    page = fresh.page
    assert page.locator("#stale").is_hidden()
    assert page.inner_text("#updated") == "3 minutes ago"
    assert page.locator(f"{VISIBLE} .tiles time[data-ago]").inner_text() == "3 minutes ago"
    # The page keeps counting: past 15 minutes the banner appears without a reload.
    page.locator("#auto-refresh").uncheck()
    page.clock.run_for(12 * 60 * 1000 + 30 * 1000)
    assert page.locator("#stale").is_visible()
    assert page.inner_text("#stale-age") == "15 minutes ago"
    assert_quiet(fresh)
    assert_quiet(old)


def test_auto_refresh_reloads_every_5_minutes_and_is_remembered(
    pages: DemoPages, open_page: OpenPage
) -> None:
    opened = open_page(pages.html_path)
    page = opened.page
    toggle = page.locator("#auto-refresh")
    assert toggle.is_checked()  # on by default
    opened.select("24h")
    opened.expand()
    page.evaluate("window.__loaded_once = true")
    page.clock.run_for(4 * 60 * 1000)
    assert page.evaluate("window.__loaded_once") is True
    with page.expect_navigation():
        page.clock.run_for(60 * 1000 + 1000)
    assert page.evaluate("window.__loaded_once") is None
    # The reload keeps what the reader was looking at (sessionStorage).
    assert page.locator(VISIBLE).get_attribute("data-range") == "24h"
    assert_open(page.locator("#range-24h details.more"), True)

    toggle.uncheck()
    page.reload()
    assert not page.locator("#auto-refresh").is_checked()  # remembered in localStorage
    page.evaluate("window.__loaded_once = true")
    page.clock.run_for(10 * 60 * 1000)
    assert page.evaluate("window.__loaded_once") is True

    with page.expect_navigation():
        page.locator("#refresh").click()
    assert page.evaluate("window.__loaded_once") is None
    assert opened.blocked == []
    assert opened.errors == []


# --------------------------------------------------------------------------- hostile data


def test_xss_payload_renders_as_text(pages: DemoPages, open_page: OpenPage) -> None:
    opened = open_page(pages.hostile_path)
    page = opened.page
    opened.expand()
    page.locator("details.breaches > summary").click()
    cell = page.get_by_role("cell", name=XSS, exact=True)
    assert cell.is_visible()
    assert cell.inner_text() == XSS
    assert page.get_by_text(CHANNEL_MARKUP, exact=True).is_visible()
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 2
    assert page.title().endswith(INSTANCE_MARKUP)
    config = page.evaluate("JSON.parse(document.getElementById('dashboard-data').textContent)")
    assert config["instance"] == INSTANCE_MARKUP
    page.mouse.move(0, 0)
    for row in page.locator("details.breaches tbody tr").all():
        row.hover()
    assert_quiet(opened)


# --------------------------------------------------------------------------- layout, a11y


@pytest.mark.parametrize("which", ["demo", "hostile"])
def test_no_horizontal_scrolling_at_375_768_1280(
    pages: DemoPages, open_page: OpenPage, which: str, tmp_path: Path
) -> None:
    opened = open_page(pages.html_path if which == "demo" else pages.hostile_path, width=375)
    page = opened.page
    labels = page.locator('[role="tab"]').all_inner_texts()
    assert labels == (["24h", "7d", "30d"] if which == "demo" else ["30d"])
    opened.expand()
    if which == "hostile":
        page.locator("details.breaches > summary").click()
    for width in (375, 768, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for label in labels:
            opened.select(label)
            scroll, inner = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert scroll <= inner, (label, width, scroll, inner)
        shot = tmp_path / f"{which}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    assert_quiet(opened)


@pytest.mark.parametrize(
    ("which", "scheme", "width"),
    [("demo", "light", 1280), ("hostile", "dark", 375)],
)
def test_axe_finds_no_serious_or_critical_violation(
    pages: DemoPages, open_page: OpenPage, which: str, scheme: str, width: int
) -> None:
    path = pages.html_path if which == "demo" else pages.hostile_path
    opened = open_page(path, scheme=scheme, width=width, at=AT + timedelta(minutes=30))
    page = opened.page
    assert page.locator("#stale").is_visible()  # the banner is checked too
    opened.expand()
    if which == "hostile":
        page.locator("details.breaches > summary").click()
    assert serious(axe_scan(page)) == []
    if which == "demo":
        # The harness can fail: a low-contrast line added to the page is caught.
        page.evaluate(
            "() => { const p = document.createElement('p'); p.textContent = 'faint';"
            " p.style.color = '#dddddd'; p.style.background = '#ffffff';"
            " document.querySelector('main').append(p); }"
        )
        again = axe_scan(page, inject=False)
        assert [v["id"] for v in again if v["impact"] == "serious"] == ["color-contrast"]
    assert opened.blocked == []


def test_quick_toggles_never_undo_themselves(pages: DemoPages, open_page: OpenPage) -> None:
    """The hidden ranges' copies follow the shown one; their late toggle events must not flip
    it back (seen before the fix: one in twenty triple presses ended in the wrong state)."""
    page = open_page(pages.html_path).page
    summary = page.locator(f"{VISIBLE} details.more > summary")
    state = "document.querySelector('section.panel:not([hidden]) details.more').open"
    for _ in range(20):
        before = page.evaluate(state)
        summary.focus()
        for _press in range(3):
            page.keyboard.press("Space")
        page.wait_for_timeout(100)
        assert page.evaluate(state) is (not before)
    copies = page.evaluate("Array.from(document.querySelectorAll('details.more'), d => d.open)")
    assert len(set(copies)) == 1
