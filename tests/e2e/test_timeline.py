"""The timeline in real Chromium: filters in the URL, export downloads, entry links."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from playwright.sync_api import expect

from observability import links
from observability.events import emit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def events(alice):
    emit("chain.created", actor=alice, target=("chain", "c-alpha"), data={"task": "=cmd needle"})
    emit("chain.failed", actor=alice, target=("chain", "c-beta"))
    emit("task.created", actor="bob", target=("task", "t-gamma"), data={"note": "needle"})
    emit("settings.changed", actor=alice, target=("operatorsettings", "1"), data={"changes": {"max_turns": {}}})


@pytest.fixture
def widget_links():
    links.register("widget", lambda ids: {i: "/settings/" for i in ids if i == "w-live"})
    yield
    links._resolvers.pop("widget", None)


def test_filters_live_in_the_url_and_survive_a_reload(staff_page, events):
    page = staff_page
    page.goto("/timeline/")
    expect(page.locator("li.entry")).to_have_count(4)
    page.select_option("#timeline-filters select[name=category]", "chain")
    expect(page).to_have_url(re.compile(r"/timeline/\?category=chain$"))
    expect(page.locator("li.entry")).to_have_count(2)
    page.fill("#timeline-q", "needle")  # debounced search
    expect(page).to_have_url(re.compile(r"category=chain&q=needle"))
    expect(page.locator("li.entry")).to_have_count(1)
    expect(page.locator("li.entry mark").first).to_have_text("needle")
    page.reload()
    expect(page.locator("#timeline-q")).to_have_value("needle")
    expect(page.locator("li.entry")).to_have_count(1)
    expect(page.locator(".cat-counts")).to_contain_text("Task 1")


def test_export_downloads_exactly_the_filtered_rows(staff_page, events):
    page = staff_page
    page.goto("/timeline/")
    page.select_option("#timeline-filters select[name=category]", "chain")
    expect(page.locator("li.entry")).to_have_count(2)
    with page.expect_download() as info:
        page.click("#timeline-export >> text=CSV")
    download = info.value
    assert re.fullmatch(r"audit-\d{8}-\d{6}\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0][:3] == ["ts", "action", "category"]
    assert sorted(r[1] for r in rows[1:]) == ["chain.created", "chain.failed"]
    assert any(r[6] == '{"task":"=cmd needle"}' for r in rows[1:])  # JSON cell starts with {
    with page.expect_download() as info:
        page.click("#timeline-export >> text=JSONL")
    lines = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert {json.loads(x)["target_id"] for x in lines} == {"c-alpha", "c-beta"}


def test_an_entry_link_lands_on_its_target_and_gone_targets_are_text(staff_page, widget_links):
    emit("widget.made", target=("widget", "w-live"))
    emit("widget.made", target=("widget", "w-gone"))
    page = staff_page
    page.goto("/timeline/")
    expect(page.locator("li.entry", has_text="w-gone")).to_contain_text("(deleted)")
    expect(page.locator("li.entry", has_text="w-gone").locator("a")).to_have_count(0)
    page.click("li.entry a:has-text('w-live')")
    expect(page).to_have_url(re.compile(r"/settings/$"))
    expect(page.locator("h1")).to_have_text("Settings")


def test_bad_filters_show_an_inline_message(staff_page, events):
    page = staff_page
    page.goto("/timeline/")
    page.fill("#timeline-filters input[name=since]", "2026-11-21T00:00:00")
    page.fill("#timeline-filters input[name=until]", "2026-11-20T00:00:00")
    expect(page.locator(".timeline-errors")).to_contain_text("Must not be before since.")
    page.goto("/timeline/?limit=999")
    expect(page.locator(".timeline-errors")).to_contain_text("between 1 and 200")


def test_details_expand_to_formatted_json(staff_page, events):
    page = staff_page
    page.goto("/timeline/?category=settings")
    entry = page.locator("li.entry").first
    expect(entry.locator("pre")).not_to_be_visible()
    entry.locator("details summary").click()
    expect(entry.locator("pre")).to_contain_text('"max_turns": {}')


def test_live_refresh_shows_new_events_and_keeps_details_open(staff_page, events):
    page = staff_page
    page.goto("/timeline/?category=settings")
    entry = page.locator("li.entry").first
    entry.locator("details summary").click()
    expect(entry.locator("pre")).to_be_visible()
    emit("settings.reset", actor="alice", target=("operatorsettings", "1"))
    # The page polls every LIVE_SECONDS; wait for the poll, not a fixed time.
    expect(page.locator("li.entry")).to_have_count(2, timeout=30_000)
    expect(page.locator("li.entry").first).to_contain_text("Settings reset to defaults")
    expect(page.locator("li.entry").nth(1).locator("pre")).to_be_visible()
    expect(page.locator("li.entry time").first).to_have_text("just now")


def test_a_chain_entry_lands_on_the_chain_page_and_a_deleted_chain_is_text(staff_page):
    from chains.models import Chain

    live = Chain.create(task="Fix the flaky checkout test")
    gone = Chain.create(task="Short-lived chain")
    gone_id = str(gone.pk)
    gone.delete()
    page = staff_page
    page.goto("/timeline/")
    gone_entry = page.locator("li.entry", has_text="Short-lived chain")
    expect(gone_entry).to_contain_text("(deleted)")
    expect(gone_entry.locator(f"a[href='/chains/{gone_id}/']")).to_have_count(0)
    page.click(f"li.entry a[href='/chains/{live.pk}/']")
    expect(page).to_have_url(re.compile(rf"/chains/{live.pk}/$"))
    expect(page.locator("h1")).to_contain_text("Fix the flaky checkout test")
