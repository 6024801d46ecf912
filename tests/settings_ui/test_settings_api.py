from __future__ import annotations

import pytest

from observability.models import AuditEvent
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db

DEFAULTS = {
    "model": "sonnet", "max_turns": 30, "max_continuations": 5, "max_budget_usd": 5.0,
    "auto_push": False, "coord_max_requests_per_minute": 60,
    "coord_max_tokens_per_minute": 100000, "coord_global_budget_usd": 50.0,
    "coord_per_worker_budget_usd": 10.0, "max_pool_terminals": 8,
}


def test_it_rejects_anonymous(anon_api):
    assert anon_api.get("/api/settings/").status_code == 401
    assert anon_api.post("/api/settings/reset/").status_code == 401


def test_it_requires_staff(bob_api):
    assert bob_api.get("/api/settings/").status_code == 403
    assert bob_api.patch("/api/settings/", {"max_turns": 3}).status_code == 403
    assert bob_api.post("/api/settings/reset/").status_code == 403


def test_it_returns_the_defaults(api):
    body = api.get("/api/settings/").json()
    assert {k: body[k] for k in DEFAULTS} == DEFAULTS


def test_patch_changes_only_the_given_fields_and_emits_the_diff(api):
    r = api.patch("/api/settings/", {"max_turns": 50, "model": "opus"})
    assert r.status_code == 200
    assert r.json()["max_turns"] == 50 and r.json()["max_continuations"] == 5
    e = AuditEvent.objects.get(action="settings.changed")
    assert e.data["changes"] == {
        "max_turns": {"from": 30, "to": 50}, "model": {"from": "sonnet", "to": "opus"},
    }


def test_patch_with_the_same_values_emits_nothing(api):
    api.patch("/api/settings/", {"max_turns": 30})
    assert not AuditEvent.objects.filter(action="settings.changed").exists()


def test_put_is_a_full_replacement(api):
    api.patch("/api/settings/", {"max_turns": 50, "auto_push": True})
    r = api.put("/api/settings/", {"model": "haiku"})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "haiku" and body["max_turns"] == 30 and body["auto_push"] is False


@pytest.mark.parametrize(
    "field,value",
    [("max_turns", 0), ("max_turns", 201), ("max_turns", "abc"), ("model", "gpt"),
     ("max_budget_usd", -1), ("coord_max_tokens_per_minute", 999), ("max_pool_terminals", 65)],
)
def test_it_rejects_bad_values_naming_the_field(api, field, value):
    r = api.patch("/api/settings/", {field: value})
    assert r.status_code == 400
    assert field in r.json()


def test_nothing_is_written_when_one_field_is_bad(api):
    r = api.patch("/api/settings/", {"max_turns": 60, "max_continuations": 99})
    assert r.status_code == 400 and list(r.json()) == ["max_continuations"]
    assert OperatorSettings.load().max_turns == 30
    assert not AuditEvent.objects.exists()


def test_it_rejects_unknown_and_read_only_keys(api):
    r = api.patch("/api/settings/", {"max_turns": 40, "theme": "nebula", "updated_at": "x"})
    assert r.status_code == 400
    assert r.json() == {"theme": ["Unknown field."], "updated_at": ["This field is read-only."]}
    assert OperatorSettings.load().max_turns == 30


def test_it_rejects_malformed_json(api):
    r = api.generic("PATCH", "/api/settings/", "{not json", content_type="application/json")
    assert r.status_code == 400
    assert "Malformed request body" in r.json()["detail"]


def test_it_rejects_a_non_object_body(api):
    r = api.put("/api/settings/", [1, 2], format="json")
    assert r.status_code == 400


def test_reset_returns_and_stores_the_defaults(api):
    api.patch("/api/settings/", {"max_turns": 50})
    r = api.post("/api/settings/reset/")
    assert r.status_code == 200 and r.json()["max_turns"] == 30
    assert api.get("/api/settings/").json()["max_turns"] == 30
    e = AuditEvent.objects.get(action="settings.reset")
    assert e.data["changes"] == {"max_turns": {"from": 50, "to": 30}}


def test_reset_rejects_get(api):
    assert api.get("/api/settings/reset/").status_code == 405


def test_out_of_range_rows_are_clamped_on_read():
    OperatorSettings.objects.create(pk=1, max_turns=999, model="gpt-9", max_budget_usd=-3)
    s = OperatorSettings.load()
    assert (s.max_turns, s.model, s.max_budget_usd) == (200, "sonnet", 0)


def test_a_bearer_token_works_and_csrf_is_not_needed(alice_token):
    from rest_framework.test import APIClient

    c = APIClient(enforce_csrf_checks=True)
    r = c.patch("/api/settings/", {"max_turns": 12}, HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert r.status_code == 200
    assert AuditEvent.objects.get(action="settings.changed").actor == "alice"


def test_session_writes_need_csrf(alice):
    from rest_framework.test import APIClient

    c = APIClient(enforce_csrf_checks=True)
    c.force_login(alice)
    r = c.patch("/api/settings/", {"max_turns": 12})
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]
    assert OperatorSettings.load().max_turns == 30
