"""POST /api/chains/bulk-archive/ and /api/chains/bulk-delete/."""

from __future__ import annotations

import uuid

import pytest

from chains.models import Chain
from observability.models import AuditEvent

pytestmark = pytest.mark.django_db

URLS = ["/api/chains/bulk-archive/", "/api/chains/bulk-delete/"]


@pytest.mark.parametrize("url", URLS)
def test_it_rejects_get(api, url):
    assert api.get(url).status_code == 405


@pytest.mark.parametrize("url", URLS)
def test_it_requires_staff(bob_api, make_chain, url):
    c = make_chain(status="complete")
    assert bob_api.post(url, {"ids": [str(c.id)]}, format="json").status_code == 403
    assert Chain.objects.get(pk=c.pk).status == "complete"


@pytest.mark.parametrize("url", URLS)
def test_it_rejects_anonymous(anon_api, make_chain, url):
    c = make_chain(status="complete")
    assert anon_api.post(url, {"ids": [str(c.id)]}, format="json").status_code == 401


def test_it_archives_with_one_timestamp_and_one_event_per_chain(api, make_chain):
    a, b = make_chain(status="complete"), make_chain(status="failed")
    bystander = make_chain()
    r = api.post(URLS[0], {"ids": [str(b.id), str(a.id)]}, format="json")
    assert r.status_code == 200
    assert r.json() == {
        "results": [{"id": str(b.id), "success": True}, {"id": str(a.id), "success": True}],
        "total": 2, "succeeded": 2, "failed": 0,
    }
    a.refresh_from_db(), b.refresh_from_db(), bystander.refresh_from_db()
    assert a.status == b.status == "archived" and a.updated_at == b.updated_at
    assert bystander.status == "running"
    events = AuditEvent.objects.filter(action="chain.archived")
    assert sorted(e.target_id for e in events) == sorted([str(a.id), str(b.id)])


def test_it_reports_unknown_and_running_ids_per_item(api, make_chain):
    done, running = make_chain(status="complete"), make_chain()
    ghost = str(uuid.uuid4())
    r = api.post(URLS[0], {"ids": [ghost, str(running.id), str(done.id)]}, format="json").json()
    assert r["results"] == [
        {"id": ghost, "success": False, "error": "not found"},
        {"id": str(running.id), "success": False, "error": "running — abort first"},
        {"id": str(done.id), "success": True},
    ]
    assert (r["total"], r["succeeded"], r["failed"]) == (3, 1, 2)
    assert Chain.objects.get(pk=running.pk).status == "running"


def test_archiving_an_archived_chain_succeeds_without_an_event(api, make_chain):
    c = make_chain(status="archived")
    r = api.post(URLS[0], {"ids": [str(c.id)]}, format="json").json()
    assert r["succeeded"] == 1
    assert not AuditEvent.objects.filter(action="chain.archived").exists()


def test_it_deletes_per_item_and_emits_for_each_deleted(api, make_chain):
    a, b, running = make_chain(status="aborted"), make_chain(status="archived"), make_chain()
    a.restart()
    ghost = str(uuid.uuid4())
    r = api.post(URLS[1], {"ids": [str(a.id), ghost, str(b.id), str(running.id)]},
                 format="json").json()
    assert [x["success"] for x in r["results"]] == [True, False, True, False]
    assert r["results"][3]["error"] == "running — abort first"
    assert set(Chain.objects.values_list("id", flat=True)) >= {running.id}
    assert not Chain.objects.filter(pk__in=[a.pk, b.pk]).exists()
    assert AuditEvent.objects.filter(action="chain.deleted").count() == 2


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("body,needle", [
    ({}, "ids"),
    ({"ids": []}, "ids"),
    ({"ids": "abc"}, "ids"),
    ({"ids": [1, 2]}, "ids"),
    ({"ids": ["not-a-uuid"]}, "not-a-uuid"),
    ({"ids": [str(uuid.UUID(int=1)), str(uuid.UUID(int=1))]}, "Duplicate"),
    ({"ids": [str(uuid.uuid4()) for _ in range(101)]}, "100"),
    ({"ids": [str(uuid.UUID(int=1))], "force": True}, "force"),
])
def test_it_rejects_bad_bodies_and_changes_nothing(api, make_chain, url, body, needle):
    c = make_chain(status="complete")
    r = api.post(url, body, format="json")
    assert r.status_code == 400 and needle in str(r.json()), r.json()
    assert Chain.objects.get(pk=c.pk).status == "complete"
    assert not AuditEvent.objects.exists()


def test_it_accepts_exactly_100_ids(api, make_chain):
    chains = [make_chain(status="complete") for _ in range(3)]
    ids = [str(c.id) for c in chains] + [str(uuid.uuid4()) for _ in range(97)]
    r = api.post(URLS[0], {"ids": ids}, format="json").json()
    assert (r["total"], r["succeeded"]) == (100, 3)
