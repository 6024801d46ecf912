from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from observability import timing

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def fresh_recorder():
    timing.recorder.clear()
    yield
    timing.recorder.clear()


def test_performance_page_fills_in_live_then_sorts_and_switches_window(staff_page):
    page = staff_page
    page.goto("/performance/")
    expect(page.locator("#performance-summary")).to_contain_text(
        "No route latency has been recorded yet."
    )
    page.goto("/timeline/")
    assert page.request.get("/nowhere/").status == 404  # not via the page: a 404 logs an error
    page.goto("/performance/")
    timing.flush()  # what each web process's flush thread does every 5 s
    # The fragment refreshes itself every 10 s: the numbers appear without a reload.
    expect(page.locator("#route-table")).to_be_visible(timeout=20_000)
    expect(page.locator("#route-table")).to_contain_text("GET /timeline/")
    expect(page.locator("#route-table")).to_contain_text("GET <unmatched>")
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator("#chart-percentiles title").first).to_have_text(
        re.compile("Latency per route")
    )
    expect(page.locator(".top-slowest li").first).to_be_visible()
    page.click("#route-table th >> text=route")
    expect(page).to_have_url(re.compile(r"/performance/\?window=1h&sort=route$"))
    expect(page.locator("#route-table th[aria-sort=ascending]")).to_contain_text("route")
    first = page.locator("#route-table tbody tr").first
    expect(first).to_contain_text("GET /")
    page.click(".window-selector >> text=5m")
    expect(page).to_have_url(re.compile(r"window=5m"))
    expect(page.locator(".window-selector [aria-current=true]")).to_have_text("5m")
    expect(page.locator("#route-table")).to_be_visible()
