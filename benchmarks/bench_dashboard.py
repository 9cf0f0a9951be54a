"""Benchmark: the HTML dashboard for the demo's 30-day history.

Prints the page's size, the time to build and render it in Python (against the JSON renderer of
the same report), and its first contentful paint in Debian's headless Chromium from file://
(Performance API, median of 5 fresh loads) against an almost empty page, plus the time a reload
takes (the spec: refresh within 2 s, tile load < 3 s at P95).

    python benchmarks/bench_dashboard.py [--keep DIR] [--runs 5]

Needs /usr/bin/chromium (`.ci/install-browser.sh`).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import machine, median_time
from playwright.sync_api import Browser, sync_playwright

from chatwoot_health.demo import generate
from chatwoot_health.render.report import RENDERERS
from chatwoot_health.report.build import build_report
from chatwoot_health.report.options import ReportOptions
from chatwoot_health.report.run import html_context
from tests.dashboard_support import CHROMIUM, CHROMIUM_ARGS  # the Chromium set-up is the tests'

END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EMPTY = '<!DOCTYPE html><html lang="en"><meta charset="utf-8"><title>empty</title><p>Hello</p>'
FCP = (
    "() => new Promise(resolve => { const look = () => {"
    " const e = performance.getEntriesByName('first-contentful-paint')[0];"
    " if (e) resolve(e.startTime); else requestAnimationFrame(look); }; look(); })"
)
LOAD = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"


def paint(browser: Browser, path: Path, runs: int) -> tuple[float, float, float]:
    """Median FCP and load-event time of fresh loads, and of reloads (ms)."""
    fcps, loads, reloads = [], [], []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file:") else route.abort()
            ),
        )
        page.goto(path.as_uri())
        fcps.append(float(page.evaluate(FCP)))
        loads.append(float(page.evaluate(LOAD)))
        page.reload()
        reloads.append(float(page.evaluate(LOAD)))
        context.close()
    return statistics.median(fcps), statistics.median(loads), statistics.median(reloads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, help="Keep the history and the page here.")
    parser.add_argument("--runs", type=int, default=5, help="Loads per page (median).")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    history = base / "artifacts"
    if not history.exists():
        history.mkdir(parents=True)
        print(f"writing the demo's 30 days of artifacts to {history} …", file=sys.stderr)
        generate(history, END - timedelta(seconds=30), seed=7)

    options = ReportOptions(artifacts_dir=history, now=END, window=timedelta(days=30))
    started = time.perf_counter()
    report = build_report(options).report
    context = html_context(options, report)
    build_s = time.perf_counter() - started
    html_s = median_time(lambda: RENDERERS["html"](report, context), args.runs)
    json_s = median_time(lambda: RENDERERS["json"](report, context), args.runs)
    text = RENDERERS["html"](report, context)
    page = base / "dashboard.html"
    page.write_text(text, encoding="utf-8")
    empty = base / "empty.html"
    empty.write_text(EMPTY, encoding="utf-8")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            paint(browser, empty, 1)  # warm the browser's caches for both pages alike
            base_fcp, base_load, base_reload = paint(browser, empty, args.runs)
            fcp, load, reload = paint(browser, page, args.runs)
        finally:
            browser.close()

    size = len(text.encode("utf-8"))
    print(machine())
    print(f"dashboard.html, 30-day demo history: {size / 1024:7.1f} KB  (limit 300 KB)")
    print(f"build the 3 ranges (24h, 7d, 30d):   {build_s * 1000:7.1f} ms")
    print(f"render HTML (Jinja2):                {html_s * 1000:7.1f} ms")
    print(f"render JSON (baseline):              {json_s * 1000:7.1f} ms")
    print(f"  ratio HTML / JSON:                 {html_s / json_s:7.2f}")
    print(f"first contentful paint, dashboard:   {fcp:7.1f} ms  (limit 500 ms)")
    print(f"first contentful paint, empty page:  {base_fcp:7.1f} ms")
    print(f"  ratio dashboard / empty:           {fcp / base_fcp:7.2f}")
    print(f"load event, dashboard / empty:       {load:7.1f} ms / {base_load:.1f} ms")
    print(f"reload (refresh), dashboard / empty: {reload:7.1f} ms / {base_reload:.1f} ms")
    print(f"(medians of {args.runs} fresh loads in headless Chromium from file://)")
    if not args.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
