"""Chromium drives the webhooks and secrets sections of the settings page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from settings_ui.models import Secret, Webhook
from tests.fixtures.receiver import receiver  # noqa: F401 - the local HTTP receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_webhooks_section_add_test_deliveries_toggle_delete(staff_page, receiver):  # noqa: F811
    page = staff_page
    page.goto("/settings/#webhooks")
    section = page.locator("#webhooks-section")
    # inline errors, nothing stored
    page.fill("#id_url", "ftp://nope")
    section.locator("button:has-text('Add webhook')").click()
    expect(page.locator("#webhook-url-errors")).to_contain_text("http")
    assert not Webhook.objects.exists()
    # a valid one, with a generated secret
    page.fill("#id_url", receiver.url)
    page.fill("#id_events", "*")
    page.select_option("#id_format", "discord")
    page.fill("#id_label", "team-hook")
    section.locator("button:has-text('Generate')").click()
    expect(page.locator("#id_secret")).to_have_value(re.compile(r"^whsec_.{32}$"))
    section.locator("button:has-text('Add webhook')").click()
    expect(section.locator("[role=status]")).to_contain_text("team-hook added")
    hook = Webhook.objects.get()
    assert hook.has_secret and hook.format == "discord"
    row = page.locator(f"#webhook-{hook.code}")
    expect(row).to_contain_text("signed")
    # Test: inline result
    row.locator("button:has-text('Test')").click()
    expect(page.locator(f"#test-result-{hook.code}")).to_contain_text("Test OK: HTTP 200")
    # Deliveries log and Redeliver
    row.locator("a:has-text('Deliveries')").click()
    log = page.locator(f"#deliveries-{hook.code}")
    expect(log).to_contain_text("webhook.test")
    log.locator("button:has-text('Redeliver')").first.click()
    expect(page.locator("#webhook-deliveries")).to_contain_text("Redelivery queued.")
    # Disable / Enable
    row.locator("button:has-text('Disable')").click()
    expect(page.locator(f"#webhook-{hook.code}")).to_contain_text("disabled")
    page.locator(f"#webhook-{hook.code} button:has-text('Enable')").click()
    expect(page.locator(f"#webhook-{hook.code} .badge.active")).to_be_visible()
    # Delete with confirm
    page.once("dialog", lambda d: d.accept())
    page.locator(f"#webhook-{hook.code} button:has-text('Delete')").click()
    expect(section).to_contain_text("No webhooks registered")
    assert not Webhook.objects.exists()


def test_secrets_section_store_reveal_hide_delete(staff_page):
    page = staff_page
    page.clock.install()
    page.goto("/settings/#secrets")
    section = page.locator("#secrets-section")
    page.fill("#secrets-section #id_name", "bad-name")
    page.fill("#secrets-section #id_value", "x")
    section.locator("button:has-text('Store secret')").click()
    expect(page.locator("#secret-name-errors")).to_contain_text("letters, digits or underscores")
    page.fill("#secrets-section #id_name", "OPENAI_KEY")
    page.fill("#secrets-section #id_value", "sk-a-very-long-secret-value")
    section.locator("button:has-text('Store secret')").click()
    expect(section.locator("[role=status]")).to_contain_text("OPENAI_KEY stored")
    assert "sk-a-very-long-secret-value" not in page.content()
    cell = page.locator("#secret-OPENAI_KEY .secret-cell")
    expect(cell.locator(".secret-mask")).to_have_text("••••••••")
    # Reveal, Hide
    toggle = page.locator("#secret-OPENAI_KEY .secret-toggle")
    toggle.click()
    expect(cell.locator(".secret-plain")).to_have_text("sk-a-very-long-secret-value")
    expect(toggle).to_have_text("Hide")
    toggle.click()
    expect(cell).to_have_attribute("data-revealed", "false")
    expect(cell.locator(".secret-mask")).to_be_visible()
    assert "sk-a-very-long-secret-value" not in page.content()
    # Reveal, then it hides itself after 30 s
    toggle.click()
    expect(cell).to_have_attribute("data-revealed", "true")
    page.clock.run_for(31_000)
    expect(cell).to_have_attribute("data-revealed", "false")
    expect(toggle).to_have_text("Reveal")
    assert Secret.objects.get().last_revealed_by == "alice"
    page.once("dialog", lambda d: d.accept())
    page.locator("#secret-OPENAI_KEY button:has-text('Delete')").click()
    expect(section).to_contain_text("No secrets stored")
