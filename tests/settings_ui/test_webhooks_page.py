"""/views/settings-webhooks/ section of the settings page."""

from __future__ import annotations

import pytest

from settings_ui.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def make_hook(url="https://hooks.example.com/x", **kw):
    return Webhook.create_from({"url": url, "events": ["chain.*"], "format": "slack",
                                "label": "ops", "active": True, **kw})


def test_the_settings_page_includes_the_section(alice_client):
    secret = "whsec_" + "A" * 32
    make_hook(secret=secret)
    html = alice_client.get("/settings/").content.decode()
    assert 'id="webhooks-section"' in html and 'href="#webhooks"' in html
    assert "ops" in html and secret not in html and "signed" in html
    assert "js/settings.js" in html


def test_the_fragment_alone_for_htmx(alice_client):
    r = alice_client.get("/views/settings-webhooks/", **HTMX)
    assert r.status_code == 200
    html = r.content.decode()
    assert html.startswith('<div id="webhooks-section">') and "No webhooks registered" in html


def test_it_requires_staff(bob_client):
    assert bob_client.get("/views/settings-webhooks/").status_code == 403
    assert bob_client.post("/views/settings-webhooks/", {"url": "https://a.example.com"}).status_code == 403


def test_it_rejects_anonymous(anon_client):
    r = anon_client.post("/views/settings-webhooks/", {"url": "https://a.example.com"})
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("suffix", ["toggle/", "delete/", "test/"])
def test_it_rejects_get(alice_client, suffix):
    hook = make_hook()
    assert alice_client.get(f"/views/settings-webhooks/{hook.code}/{suffix}").status_code == 405


def test_it_creates_a_webhook(alice_client):
    r = alice_client.post("/views/settings-webhooks/", {
        "url": "https://hooks.example.com/y", "events": "chain.*, task.failed", "format": "discord",
        "label": "team", "secret": "",
    }, **HTMX)
    assert r.status_code == 200 and "Webhook team added." in r.content.decode()
    hook = Webhook.objects.get()
    assert hook.events == ["chain.*", "task.failed"] and hook.format == "discord"


def test_bad_input_shows_inline_errors_and_stores_nothing(alice_client):
    r = alice_client.post("/views/settings-webhooks/", {
        "url": "ftp://x", "events": " , ", "format": "teams", "secret": "nope",
    }, **HTMX)
    html = r.content.decode()
    for field in ["url", "events", "format", "secret"]:
        assert f'id="webhook-{field}-errors"' in html
    assert not Webhook.objects.exists()


def test_toggle_disables_and_enables(alice_client):
    hook = make_hook()
    hook.auto_disable("HTTP 410 from the receiver")
    html = alice_client.get("/views/settings-webhooks/", **HTMX).content.decode()
    assert "HTTP 410 from the receiver" in html and ">Enable<" in html
    alice_client.post(f"/views/settings-webhooks/{hook.code}/toggle/", **HTMX)
    hook.refresh_from_db()
    assert hook.active and hook.disabled_reason == ""
    alice_client.post(f"/views/settings-webhooks/{hook.code}/toggle/", **HTMX)
    hook.refresh_from_db()
    assert not hook.active


def test_delete(alice_client):
    hook = make_hook()
    r = alice_client.post(f"/views/settings-webhooks/{hook.code}/delete/")
    assert r.status_code == 302 and r["Location"] == "/settings/#webhooks"
    assert not Webhook.objects.exists()


def test_test_shows_the_result_inline(alice_client, receiver):
    hook = make_hook(url=receiver.url, format="generic")
    r = alice_client.post(f"/views/settings-webhooks/{hook.code}/test/", **HTMX)
    assert "Test OK: HTTP 200" in r.content.decode()
    receiver.default = (500, {}, b"")
    r = alice_client.post(f"/views/settings-webhooks/{hook.code}/test/", **HTMX)
    assert "Test failed: HTTP 500" in r.content.decode()


def test_deliveries_log_and_redeliver(alice_client, receiver):
    hook = make_hook(url=receiver.url, format="generic")
    d = hook.send_test()
    r = alice_client.get(f"/views/settings-webhooks/{hook.code}/deliveries/", **HTMX)
    html = r.content.decode()
    assert "webhook.test" in html and "succeeded" in html and "Redeliver" in html
    r = alice_client.post(f"/views/settings-webhooks/{hook.code}/deliveries/{d.code}/redeliver/", **HTMX)
    assert "Redelivery queued." in r.content.decode()
    assert WebhookDelivery.objects.filter(message_id=d.message_id).count() == 2


def test_a_timeline_link_selects_the_webhook(alice_client):
    hook = make_hook()
    html = alice_client.get(f"/settings/?webhook={hook.code}").content.decode()
    assert f'id="deliveries-{hook.code}"' in html and " selected" in html
    assert alice_client.get("/settings/?webhook=garbage").status_code == 200


def test_timeline_resolvers(alice_client):
    from observability import links
    from settings_ui.models import Secret

    hook = make_hook()
    Secret.put("A", "v")
    found = links.resolve([("webhook", str(hook.code)), ("webhook", "nope"), ("secret", "A"),
                           ("secret", "B")])
    assert found[("webhook", str(hook.code))] == f"/settings/?webhook={hook.code}#webhooks"
    assert found[("webhook", "nope")] is None
    assert found[("secret", "A")] == "/settings/#secrets" and found[("secret", "B")] is None


def test_preview_shows_the_payload(alice_client):
    hook = make_hook(format="discord")
    html = alice_client.get(f"/views/settings-webhooks/{hook.code}/preview/", **HTMX).content.decode()
    assert "&quot;embeds&quot;" in html and "Within every platform limit." in html
    r = alice_client.get(f"/views/settings-webhooks/{hook.code}/preview/")
    assert r.status_code == 302


@pytest.mark.parametrize("suffix", ["deliveries/", "preview/"])
def test_fragments_require_staff(bob_client, anon_client, suffix):
    hook = make_hook()
    assert bob_client.get(f"/views/settings-webhooks/{hook.code}/{suffix}").status_code == 403
    assert anon_client.get(f"/views/settings-webhooks/{hook.code}/{suffix}").status_code == 302
