from __future__ import annotations

import pytest
from django.utils import timezone

from observability.models import AuditEvent
from settings_ui.models import RetentionPolicy, SweepRun

pytestmark = pytest.mark.django_db


def test_it_shows_every_kind(api):
    body = api.get("/api/retention/").json()
    assert body["audit_events"] == {"label": "Audit events", "available": True, "enabled": True,
                                    "ttl_days": 365}
    assert body["archived_chains"]["enabled"] is False
    assert "max_count" in body["completed_tasks"] and "max_count" not in body["snapshots"]


def test_put_sets_all_and_defaults_the_rest(api):
    r = api.put("/api/retention/", {"audit_events": {"enabled": True, "ttl_days": 7}}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["audit_events"]["ttl_days"] == 7
    assert r.json()["snapshots"]["ttl_days"] == 30
    assert AuditEvent.objects.filter(action="settings.changed").exists()


def test_patch_changes_only_what_is_given(api):
    api.patch("/api/retention/", {"snapshots": {"ttl_days": 5}}, format="json")
    r = api.patch("/api/retention/", {"audit_events": {"ttl_days": None}}, format="json")
    assert r.status_code == 200
    assert r.json()["snapshots"]["ttl_days"] == 5 and r.json()["audit_events"]["ttl_days"] is None


@pytest.mark.parametrize("body,path", [
    ({"nope": {"enabled": True}}, ["nope"]),
    ({"audit_events": {"enabled": True, "ttl_days": 0}}, ["audit_events", "ttl_days"]),
    ({"audit_events": {"enabled": True, "ttl_days": 3651}}, ["audit_events", "ttl_days"]),
    ({"audit_events": {"enabled": True, "ttl_days": 5, "colour": 1}}, ["audit_events", "colour"]),
    ({"audit_events": {"enabled": True, "ttl_days": 5, "label": "x"}}, ["audit_events", "label"]),
    ({"snapshots": {"enabled": True, "ttl_days": 5, "max_count": 5}}, ["snapshots", "max_count"]),
    ({"audit_events": 5}, ["audit_events"]),
])
def test_it_rejects_bad_values_writing_nothing(api, body, path):
    body = {"snapshots": {"enabled": False, "ttl_days": 9}, **body}
    r = api.put("/api/retention/", body, format="json")
    assert r.status_code == 400
    errors = r.json()
    for key in path:
        errors = errors[key]
    assert errors
    assert not RetentionPolicy.objects.filter(kind="snapshots", ttl_days=9).exists()


def test_it_rejects_a_non_object(api):
    assert api.put("/api/retention/", [1, 2], format="json").status_code == 400


def test_run_and_dry_run(api):
    from coordination.models import TerminalMessage

    old = TerminalMessage.objects.create(sender="w1", recipient="m", content="old")
    TerminalMessage.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timezone.timedelta(days=400)
    )
    TerminalMessage.objects.create(sender="w1", recipient="m", content="new")
    r = api.post("/api/retention/run/", {"dry_run": True}, format="json")
    assert r.status_code == 200 and r.json()["dry_run"] is True
    assert r.json()["counts"]["audit_events"] == 0
    assert r.json()["counts"]["terminal_messages"] == 1
    assert TerminalMessage.objects.count() == 2  # a dry run deletes nothing
    r = api.post("/api/retention/run/", {}, format="json")
    assert r.status_code == 200 and r.json()["dry_run"] is False
    assert r.json()["counts"]["terminal_messages"] == 1
    assert list(TerminalMessage.objects.values_list("content", flat=True)) == ["new"]
    assert AuditEvent.objects.filter(action="retention.swept").count() == 1
    runs = api.get("/api/retention/runs/").json()
    assert runs["count"] == 2 and runs["results"][0]["id"] == SweepRun.objects.first().pk


def test_run_rejects_unknown_keys_and_get(api):
    assert api.post("/api/retention/run/", {"dry": True}, format="json").status_code == 400
    assert api.get("/api/retention/run/").status_code == 405


def test_run_requires_staff(bob_api, anon_api):
    assert bob_api.post("/api/retention/run/", {}, format="json").status_code == 403
    assert anon_api.post("/api/retention/run/", {}, format="json").status_code == 401
    assert bob_api.put("/api/retention/", {}, format="json").status_code == 403
    assert not SweepRun.objects.exists()
