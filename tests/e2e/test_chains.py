"""Chromium: the chains list (live search, bulk archive) and the detail page (edit)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from chains.models import Chain

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_live_search_filters_the_rows_and_the_url(staff_page):
    Chain.objects.create(task="Migrate billing to the event bus", status="complete")
    Chain.objects.create(task="Write the runbook", status="failed")
    page = staff_page
    page.goto("/chains/")
    rows = page.locator("#chain-results tbody tr[data-chain]")
    expect(rows).to_have_count(2)
    page.fill("#chain-q", "BILLING")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Migrate billing")
    expect(page).to_have_url(re.compile(r"q=BILLING"))
    expect(page.locator("#chain-range")).to_have_text("1–1 of 1")
    page.fill("#chain-q", "")
    expect(rows).to_have_count(2)
    page.select_option("#chain-status", "failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Write the runbook")


def test_bulk_archive_with_confirm(staff_page):
    a = Chain.objects.create(task="Done one", status="complete")
    b = Chain.objects.create(task="Done two", status="failed")
    live = Chain.objects.create(task="Still running")
    page = staff_page
    page.goto("/chains/")
    page.check(f"tr[data-chain='{a.id}'] input[name=ids]")
    page.check(f"tr[data-chain='{live.id}'] input[name=ids]")
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("#bulk-archive")
    expect(page.locator("#bulk-status")).to_contain_text("Archived 1 of 2.")
    expect(page.locator("#bulk-status")).to_contain_text("running — abort first")
    assert dialogs == ["Archive the selected chains?"]
    expect(page.locator(f"tr[data-chain='{a.id}'] .badge")).to_have_text("Archived")
    assert Chain.objects.get(pk=a.pk).status == "archived"
    assert Chain.objects.get(pk=b.pk).status == "failed"
    assert Chain.objects.get(pk=live.pk).status == "running"
    # Select-all then dismiss the confirm: nothing happens.
    page.check("input[data-select-all]")
    page.once("dialog", lambda d: d.dismiss())
    page.click("#bulk-delete")
    assert Chain.objects.count() == 3


def test_edit_shows_inline_errors_then_saves(staff_page):
    c = Chain.objects.create(task="Old task", status="complete", metadata={"a": 1})
    page = staff_page
    page.goto(f"/chains/{c.id}/")
    expect(page.locator("#chain-task")).to_have_text("Old task")
    page.fill("#id_metadata", "{not json")
    page.click("#chain-edit button:has-text('Save')")
    expect(page.locator("#metadata-errors")).to_contain_text("Not valid JSON")
    assert Chain.objects.get(pk=c.pk).metadata == {"a": 1}
    page.fill("#id_task", "New task")
    page.fill("#id_metadata", '{"ticket": "OPS-3"}')
    page.click("#chain-edit button:has-text('Save')")
    expect(page.locator("#chain-edit [role=status]")).to_have_text("Saved.")
    c.refresh_from_db()
    assert c.task == "New task" and c.metadata == {"ticket": "OPS-3"}
    page.reload()
    expect(page.locator("#chain-task")).to_have_text("New task")


def test_running_chain_refreshes_and_abort_redirects(staff_page):
    c = Chain.objects.create(task="Live one")
    page = staff_page
    page.goto(f"/chains/{c.id}/")
    expect(page.locator("#chain-status")).to_have_text("Running")
    c.record_session(turns=3, cost_usd=2)
    expect(page.locator("#chain-cost")).to_have_text("$2.00", timeout=15_000)
    page.once("dialog", lambda d: d.accept())
    page.click("button:has-text('Abort')")
    expect(page.locator("#chain-status")).to_have_text("Aborted")
    expect(page.locator("button:has-text('Restart')")).to_be_visible()
