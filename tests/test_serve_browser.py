"""The live dashboard in headless Chromium against uvicorn on 127.0.0.1 and the Chatwoot-like
server: sign in, the card, "Run check now" updating the page without a reload, an alert toast and
a browser notification, the range selector, the incident log; no CSP violation, axe clean.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.dashboard_support import (
    VISIBLE,
    axe_scan,
    chromium,
    csp_violations,
    record_errors,
    serious,
    watch_csp,
)
from tests.serve_support import (
    AT,
    BREAK_GLASS,
    PREFIX,
    LiveServer,
    serve_settings,
    start,
    write_history,
)
from tests.servers.chatwoot_server import ChatwootServer

pytestmark = pytest.mark.browser

#: Stands in for the Notifications API (granted, recording).
NOTIFICATIONS = """
window.__notes = [];
function FakeNotification(title, options) { window.__notes.push(title); }
FakeNotification.permission = 'granted';
FakeNotification.requestPermission = () => Promise.resolve('granted');
window.Notification = FakeNotification;
"""


@dataclass
class Session:
    page: Page
    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return csp_violations(self.page)


browser = pytest.fixture(scope="module", name="browser")(chromium)


@pytest.fixture
def served(tmp_path: Path, chatwoot: ChatwootServer, api_token: str) -> Iterator[LiveServer]:
    directory = tmp_path / "artifacts"
    directory.mkdir()
    write_history(directory)
    server = start(serve_settings(directory, chatwoot.url, api_token))
    try:
        yield server
    finally:
        server.stop()


def open_session(browser: Browser, server: LiveServer, *, bypass_csp: bool = False) -> Session:
    context: BrowserContext = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp
    )
    watch_csp(context)
    context.add_init_script(NOTIFICATIONS)
    page = context.new_page()
    session = Session(page)
    record_errors(page, session.errors)
    page.clock.install(time=AT)
    page.goto(server.url + f"{PREFIX}/login")
    page.get_by_label("Chatwoot access token").fill(BREAK_GLASS)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + f"{PREFIX}/")
    return session


def test_sign_in_run_now_toast_ranges_and_incidents(
    browser: Browser, served: LiveServer, chatwoot: ChatwootServer
) -> None:
    session = open_session(browser, served)
    page = session.page
    expect(page.locator(f"{VISIBLE} [data-metric='uptime.percent']").first).to_be_visible()
    # The bars are sized by the script (the CSP allows no style attribute).
    sized = page.evaluate(
        "Array.from(document.querySelectorAll('[data-css-width]'),"
        " e => e.style.width === e.getAttribute('data-css-width'))"
    )
    assert sized and all(sized)
    runs = page.locator(f"{VISIBLE} [data-metric='uptime.runs_seen']").first
    before = int(runs.get_attribute("data-value") or "0")
    page.evaluate("window.__marker = 'same page'")
    page.locator("#browser-notify").check()

    # A run that finds Chatwoot down: the page updates in place and the new alert is toasted.
    chatwoot.fault("/health", "500")
    page.get_by_role("button", name="Run check now").click()
    expect(runs).to_have_attribute("data-value", str(before + 1), timeout=15000)
    expect(page.locator(".toast").first).to_contain_text("Alert started", timeout=10000)
    assert page.evaluate("window.__marker") == "same page"  # no reload
    assert page.evaluate("window.__notes.length") >= 1
    assert page.locator("#browser-notify").is_checked()

    # The range selector still works on the swapped-in page.
    page.get_by_role("tab", name="24h", exact=True).click()
    assert page.locator(VISIBLE).get_attribute("data-range") == "24h"

    page.get_by_role("link", name="Incident log").click()
    expect(page.get_by_role("heading", name="Incident log")).to_be_visible()
    page.get_by_role("link", name="7d").click()
    expect(page.get_by_role("link", name="7d")).to_have_attribute("aria-current", "page")

    assert session.csp_violations() == []
    assert session.errors == []
    page.context.close()


def test_a_second_click_says_a_run_is_in_progress(
    browser: Browser, served: LiveServer, chatwoot: ChatwootServer
) -> None:
    session = open_session(browser, served)
    page = session.page
    chatwoot.behaviour.delay = 1.0
    button = page.get_by_role("button", name="Run check now")
    with page.expect_response(lambda r: r.url.endswith("/run")) as first:
        button.click()
    assert first.value.status == 202
    with page.expect_response(lambda r: r.url.endswith("/run")) as second:
        button.click()
    assert second.value.status == 409
    expect(page.locator("#run-status")).to_contain_text(re.compile("a run is in progress", re.I))
    chatwoot.behaviour.delay = 0.0
    assert session.csp_violations() == []
    page.context.close()


def test_axe_finds_no_serious_violation(browser: Browser, served: LiveServer) -> None:
    # axe is injected as a script, which the CSP (rightly) refuses: this context bypasses it.
    session = open_session(browser, served, bypass_csp=True)
    page = session.page
    for path in ("/", "/incidents?range=30d"):
        page.goto(served.url + PREFIX + path)
        assert serious(axe_scan(page)) == [], path
    page.context.close()
    context = browser.new_context(bypass_csp=True)
    login = context.new_page()
    login.goto(served.url + f"{PREFIX}/login")
    assert serious(axe_scan(login)) == []
    context.close()
