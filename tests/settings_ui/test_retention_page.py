from __future__ import annotations

import pytest

from settings_ui.models import RetentionPolicy, SweepRun
from settings_ui.retention import KINDS

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def form(**overrides):
    data = {}
    for kind, spec in KINDS.items():
        if spec.default_enabled:
            data[f"{kind}-enabled"] = "on"
        data[f"{kind}-ttl_days"] = str(spec.default_ttl_days or "")
        if spec.has_max_count:
            data[f"{kind}-max_count"] = str(spec.default_max_count)
    data.update(overrides)
    return data


def test_the_fragment_lists_every_kind(alice_client):
    html = alice_client.get("/views/settings-retention/", **HX).content.decode()
    assert html.lstrip().startswith('<div id="retention-section"')
    for spec in KINDS.values():
        assert spec.label in html
    assert "not available" not in html  # every kind's model exists now


def test_the_section_requires_staff(anon_client, bob_client):
    assert anon_client.get("/views/settings-retention/").status_code == 302
    assert bob_client.get("/views/settings-retention/").status_code == 403


def test_it_saves(alice_client):
    r = alice_client.post("/views/settings-retention/", form(**{"audit_events-ttl_days": "7", "snapshots-ttl_days": ""}), **HX)
    assert "Saved (2 changed)." in r.content.decode()
    assert RetentionPolicy.objects.get(kind="audit_events").ttl_days == 7
    assert RetentionPolicy.objects.get(kind="snapshots").ttl_days is None


def test_it_shows_inline_errors_and_writes_nothing(alice_client):
    html = alice_client.post("/views/settings-retention/", form(**{"audit_events-ttl_days": "7", "snapshots-ttl_days": "9999"}), **HX).content.decode()
    assert 'id="snapshots-ttl_days-errors"' in html and "less than or equal to 3650" in html
    assert RetentionPolicy.objects.get(kind="audit_events").ttl_days == 365


class TestRun:
    def test_it_rejects_get(self, alice_client):
        assert alice_client.get("/views/settings-retention/run/").status_code == 405

    def test_it_requires_staff(self, bob_client):
        assert bob_client.post("/views/settings-retention/run/").status_code == 403
        assert bob_client.post("/views/settings-retention/", form()).status_code == 403
        assert not SweepRun.objects.exists()

    def test_it_rejects_anonymous(self, anon_client):
        assert anon_client.post("/views/settings-retention/run/").status_code == 302
        assert not SweepRun.objects.exists()

    def test_preview_and_run(self, alice_client):
        html = alice_client.post("/views/settings-retention/run/", {"dry_run": "1"}, **HX).content.decode()
        assert "Dry run: would delete 0 rows" in html and SweepRun.objects.get().dry_run
        html = alice_client.post("/views/settings-retention/run/", {"dry_run": "0"}, **HX).content.decode()
        assert "Deleted 0 rows" in html and 'id="sweeps-table"' in html
        assert SweepRun.objects.count() == 2
