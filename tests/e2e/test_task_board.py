"""The task board and the terminals page in real Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from coordination.models import Task, Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_board_add_tasks_with_deps_see_why_and_svg_then_cancel(staff_page):
    page = staff_page
    page.goto("/tasks/")
    expect(page.locator("#coordinator-status")).to_have_text("init")
    page.fill("#id_id", "build")
    page.fill("#id_task", "implement the parser")
    page.click("#add-task button[type=submit]")
    expect(page).to_have_url(re.compile(r"/tasks/\?task=build$"))
    expect(page.locator("#task-build")).to_have_class(re.compile("highlight"))
    page.fill("#id_id", "check")
    page.fill("#id_task", "review it")
    page.fill("#id_deps", "build")
    page.click("#add-task button[type=submit]")
    card = page.locator("#task-check")
    expect(card.locator("[data-why]")).to_contain_text("waiting on deps build")
    expect(page.locator("svg.dag [data-node]")).to_have_count(2)
    expect(page.locator("svg.dag .dag-edge")).to_have_count(1)
    page.click("#coordinator-card button:has-text('Start')")
    expect(page.locator("#coordinator-status")).to_have_text("running")
    page.once("dialog", lambda d: d.accept())
    page.locator("#task-build button:has-text('Cancel')").click()
    expect(page.locator("[role=status]")).to_contain_text("Cancelled build, check.")
    expect(page.locator("[data-status=cancelled] .task-card")).to_have_count(2)
    assert set(Task.objects.values_list("status", flat=True)) == {"cancelled"}


def test_board_add_form_shows_errors_inline(staff_page):
    page = staff_page
    page.goto("/tasks/")
    page.fill("#id_id", "x")
    page.fill("#id_task", "t")
    page.fill("#id_deps", "ghost")
    page.click("#add-task button[type=submit]")
    expect(page.locator("#deps-errors")).to_contain_text("Unknown dependency 'ghost'")


def test_board_copy_link_and_deep_link(staff_page, live_server):
    Task.create_many([{"id": "alpha"}, {"id": "beta"}])
    page = staff_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/tasks/?task=beta")
    expect(page.locator("#task-beta")).to_have_class(re.compile("highlight"))
    expect(page.locator("#task-alpha")).not_to_have_class(re.compile("highlight"))
    page.locator("#task-alpha [data-copy-permalink]").click()
    expect(page.locator("#task-alpha [data-copy-permalink]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/tasks/?task=alpha"
    page.goto("/tasks/?task=ghost")
    expect(page.locator("[role=alert]")).to_contain_text("“ghost” was not found")


def test_terminals_tabs_deep_link_and_live_output(staff_page, live_server):
    Terminal.open("t1").append("first terminal\n")
    Terminal.open("t2").append("second terminal\n")
    page = staff_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/terminals/?tab=t2")
    expect(page.locator("#panel-t2")).to_be_visible()
    expect(page.locator("#panel-t1")).to_be_hidden()
    expect(page.locator("#panel-t2 [data-term-output]")).to_contain_text("second terminal")
    page.click("#tab-t1")
    expect(page).to_have_url(re.compile(r"/terminals/\?tab=t1$"))
    expect(page.locator("#panel-t1")).to_be_visible()
    expect(page.locator("#tab-t1")).to_have_attribute("aria-selected", "true")
    Terminal.objects.get(code="t1").append("live line\n")
    expect(page.locator("#panel-t1 [data-term-output]")).to_contain_text("live line")
    page.locator("#panel-t1 [data-copy-permalink]").click()
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/terminals/?tab=t1"


def test_terminals_unknown_tab_shows_notice_and_first_tab(staff_page):
    Terminal.open("t1")
    Terminal.open("t2")
    page = staff_page
    page.goto("/terminals/?tab=nope")
    expect(page.locator("#unknown-tab")).to_contain_text("No terminal “nope”")
    expect(page.locator("#panel-t1")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/terminals/\?tab=t1$"))
