from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from observability.models import AuditEvent
from settings_ui.models import ApiToken

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_a_working_token_once(alice, anon_api):
    out = StringIO()
    call_command("create_api_token", "alice", stdout=out)
    raw = out.getvalue().strip()
    assert raw.startswith("opr_")
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (token.hint, token.label, token.token_hash)
    r = anon_api.get("/api/settings/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 200


def test_create_api_token_refuses_unknown_and_non_staff_users(bob):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody")
    with pytest.raises(CommandError, match="not staff"):
        call_command("create_api_token", "bob")


def test_a_wrong_token_is_401(anon_api, alice_token):
    r = anon_api.get("/api/settings/", HTTP_AUTHORIZATION="Bearer opr_wrong")
    assert r.status_code == 401


def test_a_non_staff_token_is_403(bob, anon_api):
    _, raw = ApiToken.issue(bob)
    assert anon_api.get("/api/settings/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 403


def test_an_inactive_users_token_is_401(alice, anon_api, alice_token):
    alice.is_active = False
    alice.save()
    assert anon_api.get("/api/settings/", HTTP_AUTHORIZATION=f"Bearer {alice_token}").status_code == 401


def test_it_records_last_use(alice_token, anon_api):
    anon_api.get("/api/settings/", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert ApiToken.objects.get().last_used_at is not None


def test_issue_and_revoke_are_audited(alice):
    token, _ = ApiToken.issue(alice, "ci")
    token.revoke(actor=alice)
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "token.created", "token.revoked",
    ]
    assert not ApiToken.objects.exists()
