"""Secrets: encryption at rest, the /api/secrets/ API, reveal auditing, rotation."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from observability.models import AuditEvent
from settings_ui import keyring
from settings_ui.models import Secret, Webhook
from settings_ui.webhook_protocol import generate_secret

pytestmark = pytest.mark.django_db

VALUE = "sk-live-very-secret-value-123"


def test_it_encrypts_with_a_fresh_ciphertext_per_write():
    a, _ = Secret.put("A", VALUE)
    first = a.ciphertext
    a, created = Secret.put("A", VALUE)
    assert not created and a.ciphertext != first
    assert VALUE not in a.ciphertext and keyring.decrypt(a.ciphertext) == VALUE
    assert a.key_id == keyring.current_key_id()


def test_no_plaintext_in_the_database_dump(alice):
    Secret.put("OPENAI_KEY", VALUE, "prod", actor=alice)
    hook_secret = generate_secret()
    Webhook.create_from({"url": "https://x.example.com/", "events": ["*"], "secret": hook_secret})
    dump = "\n".join(connection.connection.iterdump()) if connection.vendor == "sqlite" else ""
    if connection.vendor != "sqlite":
        from django.core import serializers

        dump = serializers.serialize("json", [*Secret.objects.all(), *Webhook.objects.all(),
                                              *AuditEvent.objects.all()])
    assert "OPENAI_KEY" in dump
    assert VALUE not in dump and hook_secret not in dump
    out = StringIO()
    call_command("dumpdata", "settings_ui", "observability", stdout=out)
    assert VALUE not in out.getvalue() and hook_secret not in out.getvalue()


def test_it_requires_staff(bob_api):
    assert bob_api.get("/api/secrets/").status_code == 403
    assert bob_api.post("/api/secrets/A/reveal/").status_code == 403


def test_it_rejects_anonymous(anon_api):
    assert anon_api.get("/api/secrets/").status_code == 401
    assert anon_api.post("/api/secrets/A/reveal/").status_code == 401


def test_list_and_get_never_show_values(api):
    assert api.post("/api/secrets/", {"name": "A_1", "value": VALUE, "label": "x"},
                    format="json").status_code == 201
    for r in [api.get("/api/secrets/"), api.get("/api/secrets/A_1/")]:
        assert r.status_code == 200 and VALUE not in r.content.decode()
    assert api.get("/api/secrets/").json()["results"][0]["name"] == "A_1"


def test_create_refuses_an_existing_name(api):
    Secret.put("A", VALUE)
    r = api.post("/api/secrets/", {"name": "A", "value": "x"}, format="json")
    assert r.status_code == 409


@pytest.mark.parametrize("body,field", [
    ({"name": "bad-name", "value": "v"}, "name"), ({"name": "bad.name", "value": "v"}, "name"),
    ({"name": "bad name", "value": "v"}, "name"), ({"name": "", "value": "v"}, "name"),
    ({"name": "x" * 65, "value": "v"}, "name"), ({"name": "A", "value": ""}, "value"),
    ({"name": "A"}, "value"), ({"name": "A", "value": 5, "extra": 1}, "extra"),
])
def test_bad_input_is_a_400_naming_the_field(api, body, field):
    r = api.post("/api/secrets/", body, format="json")
    assert r.status_code == 400 and field in r.json()
    assert not Secret.objects.exists() and not AuditEvent.objects.exists()


def test_put_upserts_and_keeps_the_label(api):
    r = api.put("/api/secrets/TOKEN/", {"value": "one", "label": "L"}, format="json")
    assert r.status_code == 201
    r = api.put("/api/secrets/TOKEN/", {"value": "two"}, format="json")
    assert r.status_code == 200 and r.json()["label"] == "L"
    assert keyring.decrypt(Secret.objects.get().ciphertext) == "two"
    assert api.put("/api/secrets/bad-name/", {"value": "v"}, format="json").status_code == 400
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["secret.created", "secret.updated"]


def test_reveal_is_a_post_and_is_audited(api, alice):
    Secret.put("A", VALUE)
    assert api.get("/api/secrets/A/reveal/").status_code == 405
    r = api.post("/api/secrets/A/reveal/")
    assert r.status_code == 200 and r.json() == {"name": "A", "value": VALUE}
    ev = AuditEvent.objects.get(action="secret.revealed")
    assert ev.actor == "alice" and ev.target_id == "A" and VALUE not in str(ev.data)
    s = Secret.objects.get()
    assert s.last_revealed_by == "alice" and s.last_revealed_at is not None
    assert api.post("/api/secrets/NOPE/reveal/").status_code == 404


def test_no_plaintext_in_the_audit_log(api):
    api.put("/api/secrets/A/", {"value": VALUE}, format="json")
    api.post("/api/secrets/A/reveal/")
    api.delete("/api/secrets/A/")
    assert AuditEvent.objects.count() == 3
    assert VALUE not in str(list(AuditEvent.objects.values()))


def test_delete(api):
    Secret.put("A", VALUE)
    assert api.delete("/api/secrets/A/").status_code == 204
    assert api.delete("/api/secrets/A/").status_code == 404
    assert api.delete("/api/secrets/bad-name/").status_code == 400


def test_rotate_secrets_re_encrypts_under_the_first_key(settings):
    old = settings.OPERATOR_SECRETS_KEYS[0]
    Secret.put("A", "one")
    Secret.put("B", "two")
    hook_secret = generate_secret()
    Webhook.create_from({"url": "https://x.example.com/", "events": ["*"], "secret": hook_secret})
    new = Fernet.generate_key().decode()
    settings.OPERATOR_SECRETS_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    text = out.getvalue()
    assert f"key {keyring.key_id(old)}: 3" in text and f"key {keyring.key_id(new)}: 3" in text
    assert "3/3" in text
    settings.OPERATOR_SECRETS_KEYS = [new]  # the old key can go now
    assert {s.key_id for s in Secret.objects.all()} == {keyring.key_id(new)}
    assert keyring.decrypt(Secret.objects.get(name="B").ciphertext) == "two"
    assert Webhook.objects.get().signing_secret() == hook_secret


def test_rotate_secrets_names_the_secret_a_wrong_key_cannot_decrypt(settings):
    Secret.put("GOOD", "one")
    settings.OPERATOR_SECRETS_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="secret GOOD") as exc:
        call_command("rotate_secrets", stdout=StringIO())
    assert "Traceback" not in str(exc.value)


def test_reveal_with_a_wrong_key_is_a_409(api, settings):
    Secret.put("A", VALUE)
    settings.OPERATOR_SECRETS_KEYS = [Fernet.generate_key().decode()]
    r = api.post("/api/secrets/A/reveal/")
    assert r.status_code == 409 and "A" in r.json()["detail"]
