from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NAV = [("Dashboard", "/"), ("Chains", "/chains/"), ("Tasks", "/tasks/"),
       ("Terminals", "/terminals/"), ("Timeline", "/timeline/"),
       ("Performance", "/performance/"), ("Settings", "/settings/")]


def test_login_form_then_every_nav_page_renders(page, alice):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("correct username and password")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-123")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")
    for label, path in NAV:
        page.click(f"nav.sidebar >> text={label}")
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        expect(page.locator("nav.sidebar [aria-current=page]")).to_have_text(label)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui")).to_be_visible()


def test_settings_save_shows_inline_error_then_saves(staff_page):
    page = staff_page
    page.goto("/settings/")
    page.fill("#id_max_turns", "500")
    page.click("#general-section button:has-text('Save')")
    expect(page.locator("#max_turns-errors")).to_contain_text("less than or equal to 200")
    page.fill("#id_max_turns", "45")
    page.click("#general-section button:has-text('Save')")
    expect(page.locator("#general-section [role=status]")).to_have_text("Saved (1 changed).")
    page.reload()
    expect(page.locator("#id_max_turns")).to_have_value("45")
    page.once("dialog", lambda d: d.accept())
    page.click("text=Reset to defaults")
    expect(page.locator("#general-section [role=status]")).to_have_text("Reset to defaults.")
    expect(page.locator("#id_max_turns")).to_have_value("30")


def test_api_token_is_shown_once_and_revocable(staff_page):
    page = staff_page
    page.goto("/settings/#tokens")
    page.fill("#tokens-section input[name=label]", "laptop")
    page.click("#tokens-section button:has-text('Create token')")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("opr_")
    expect(page.locator("#tokens-section tbody")).to_contain_text("laptop")
    # The token works against the API from the browser's point of view too.
    status = page.evaluate(
        "t => fetch('/api/settings/', {headers: {Authorization: 'Bearer ' + t}}).then(r => r.status)",
        token,
    )
    assert status == 200
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    page.once("dialog", lambda d: d.accept())
    page.click("#tokens-section button:has-text('Revoke')")
    expect(page.locator("#tokens-section tbody")).to_contain_text("No API tokens yet.")
