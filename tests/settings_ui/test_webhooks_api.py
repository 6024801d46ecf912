"""/api/webhooks/: CRUD, bad input, test/, preview/, deliveries/ and redeliver."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from observability.models import AuditEvent
from settings_ui.models import Webhook, WebhookDelivery
from settings_ui.webhook_protocol import generate_secret

pytestmark = pytest.mark.django_db


def create(api, **kw):
    body = {"url": "https://hooks.example.com/x", "events": ["chain.*"], "format": "slack",
            "label": "ops"}
    body.update(kw)
    return api.post("/api/webhooks/", body, format="json")


def test_it_requires_staff(bob_api):
    assert bob_api.get("/api/webhooks/").status_code == 403
    assert create(bob_api).status_code == 403


def test_it_rejects_anonymous(anon_api):
    assert anon_api.get("/api/webhooks/").status_code == 401
    assert create(anon_api).status_code == 401


def test_it_creates_and_never_returns_the_secret(api):
    secret = generate_secret()
    r = create(api, secret=secret)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["has_secret"] is True and "secret" not in body
    assert body["active"] is True and body["events"] == ["chain.*"]
    hook = Webhook.objects.get()
    assert secret not in hook.secret_ciphertext and hook.signing_secret() == secret
    ev = AuditEvent.objects.get(action="webhook.created")
    assert secret not in str(ev.data) and ev.data["has_secret"] is True
    assert secret not in api.get("/api/webhooks/").content.decode()


@pytest.mark.parametrize("field,value", [
    ("url", "ftp://example.com/"), ("url", "not a url"), ("url", "http://10.0.0.1/hook"),
    ("url", "http://localhost/"), ("url", ""),
    ("events", []), ("events", [""]), ("events", ["chain.*.x"]), ("events", "chain.*"),
    ("format", "teams"), ("secret", "plain-text"), ("label", "x" * 101),
])
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, field, value):
    r = create(api, **{field: value})
    assert r.status_code == 400
    assert field in r.json()
    assert not Webhook.objects.exists() and not AuditEvent.objects.exists()


def test_unknown_and_read_only_keys_are_400(api):
    assert "nope" in create(api, nope=1).json()
    assert "has_secret" in create(api, has_secret=True).json()


def test_private_urls_are_allowed_with_the_flag(api, settings):
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = True
    assert create(api, url="http://127.0.0.1:9/hook").status_code == 201


def test_patch_updates_and_clears_the_secret(api):
    code = create(api, secret=generate_secret()).json()["id"]
    r = api.patch(f"/api/webhooks/{code}/", {"label": "new", "secret": ""}, format="json")
    assert r.status_code == 200 and r.json()["label"] == "new" and r.json()["has_secret"] is False
    ev = AuditEvent.objects.get(action="webhook.updated")
    assert set(ev.data["changes"]) == {"label", "secret"}


def test_patch_validates_everything_before_writing(api):
    code = create(api).json()["id"]
    r = api.patch(f"/api/webhooks/{code}/", {"label": "new", "events": []}, format="json")
    assert r.status_code == 400 and "events" in r.json()
    assert Webhook.objects.get().label == "ops"


def test_patch_active_true_re_enables_and_clears_the_reason(api):
    code = create(api).json()["id"]
    hook = Webhook.objects.get()
    hook.auto_disable("HTTP 410")
    r = api.patch(f"/api/webhooks/{code}/", {"active": True}, format="json")
    assert r.json()["active"] is True and r.json()["disabled_reason"] == ""


def test_delete(api):
    code = create(api).json()["id"]
    assert api.delete(f"/api/webhooks/{code}/").status_code == 204
    assert not Webhook.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted", target_id=code).exists()
    assert api.get(f"/api/webhooks/{code}/").status_code == 404


def test_filters(api):
    create(api, format="slack")
    create(api, format="discord", active=False)
    assert api.get("/api/webhooks/?format=slack").json()["count"] == 1
    assert api.get("/api/webhooks/?active=false").json()["count"] == 1


def test_the_test_endpoint_delivers_now_and_returns_the_result(api, receiver):
    secret = generate_secret()
    code = create(api, url=receiver.url, secret=secret, active=False, format="generic").json()["id"]
    r = api.post(f"/api/webhooks/{code}/test/")
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["delivery"]["response_status"] == 200
    assert body["delivery"]["latency_ms"] is not None
    req = receiver.requests[0]
    assert StandardWebhook(secret).verify(req.body, req.headers)["event"] == "webhook.test"


def test_the_test_endpoint_reports_failures(api, receiver):
    receiver.default = (500, {}, b"broken")
    code = create(api, url=receiver.url).json()["id"]
    body = api.post(f"/api/webhooks/{code}/test/").json()
    assert body["ok"] is False and body["delivery"]["error"] == "HTTP 500"
    assert body["delivery"]["response_body"] == "broken"


def test_it_rejects_get_on_test(api):
    code = create(api).json()["id"]
    assert api.get(f"/api/webhooks/{code}/test/").status_code == 405


def test_deliveries_and_redeliver(api, receiver):
    code = create(api, url=receiver.url).json()["id"]
    api.post(f"/api/webhooks/{code}/test/")
    r = api.get(f"/api/webhooks/{code}/deliveries/")
    assert r.status_code == 200
    rows = r.json()["results"]
    assert [d["event"] for d in rows] == ["webhook.test"]  # chain.* does not match webhook.*
    assert api.get(f"/api/webhooks/{code}/deliveries/?status=succeeded").json()["count"] == 1
    test_id = next(d["id"] for d in rows if d["event"] == "webhook.test")
    r = api.post(f"/api/webhooks/{code}/deliveries/{test_id}/redeliver/")
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert WebhookDelivery.objects.count() == 2
    bad = "00000000-0000-0000-0000-000000000000"
    assert api.post(f"/api/webhooks/{code}/deliveries/{bad}/redeliver/").status_code == 404


@pytest.mark.parametrize("fmt", ["generic", "slack", "discord"])
def test_preview_shows_the_exact_payload(api, fmt):
    code = create(api, format=fmt).json()["id"]
    r = api.get(f"/api/webhooks/{code}/preview/?event=chain.failed")
    assert r.status_code == 200
    body = r.json()
    assert body["format"] == fmt and body["event"] == "chain.failed" and body["warnings"] == []
    if fmt == "slack":
        assert body["payload"]["attachments"][0]["color"] == "#ef4444"
    if fmt == "discord":
        assert body["payload"]["embeds"][0]["title"] == "Chain failed"


def test_preview_rejects_bad_parameters(api):
    code = create(api).json()["id"]
    assert "format" in api.get(f"/api/webhooks/{code}/preview/?format=x").json()
    assert "event" in api.get(f"/api/webhooks/{code}/preview/?event=Bad Event").json()


def test_a_secret_written_with_a_lost_key_can_be_replaced(api, settings):
    from cryptography.fernet import Fernet

    code = create(api, secret=generate_secret()).json()["id"]
    settings.OPERATOR_SECRETS_KEYS = [Fernet.generate_key().decode()]
    new = generate_secret()
    r = api.patch(f"/api/webhooks/{code}/", {"secret": new}, format="json")
    assert r.status_code == 200
    assert Webhook.objects.get().signing_secret() == new
