"""PATCH /api/chains/{id}/: only task and metadata, all validated first, If-Match/ETag."""

from __future__ import annotations

import pytest

from chains.models import Chain
from observability.models import AuditEvent

pytestmark = pytest.mark.django_db


def _patch(api, chain, body, **headers):
    return api.patch(f"/api/chains/{chain.id}/", body, format="json", **headers)


def test_it_rejects_anonymous(anon_api, make_chain):
    c = make_chain()
    assert _patch(anon_api, c, {"task": "x"}).status_code == 401


def test_it_requires_staff(bob_api, make_chain):
    c = make_chain()
    assert _patch(bob_api, c, {"task": "x"}).status_code == 403
    c.refresh_from_db()
    assert c.task != "x"


def test_it_rejects_get_of_a_put(api, make_chain):
    c = make_chain()
    assert api.put(f"/api/chains/{c.id}/", {"task": "x"}, format="json").status_code == 405


def test_it_edits_task_and_metadata_bumps_updated_at_and_emits(api, make_chain):
    c = make_chain(status="archived")
    before = c.updated_at
    r = _patch(api, c, {"task": "  New task ", "metadata": {"ticket": "OPS-9"}})
    assert r.status_code == 200
    assert r.json()["task"] == "New task" and r.json()["metadata"] == {"ticket": "OPS-9"}
    c.refresh_from_db()
    assert c.task == "New task" and c.updated_at > before and c.status == "archived"
    e = AuditEvent.objects.get(action="chain.updated")
    assert e.target_id == str(c.id) and e.data["fields"] == ["metadata", "task"]


def test_metadata_is_replaced_not_merged_and_null_clears_it(api, make_chain):
    c = make_chain(metadata={"a": 1, "b": 2})
    assert _patch(api, c, {"metadata": {"c": 3}}).json()["metadata"] == {"c": 3}
    assert _patch(api, c, {"metadata": None}).json()["metadata"] is None
    c.refresh_from_db()
    assert c.metadata is None


@pytest.mark.parametrize("body,field", [
    ({}, "non_field_errors"),
    ({"task": ""}, "task"),
    ({"task": "   "}, "task"),
    ({"task": 12}, "task"),
    ({"metadata": [1]}, "metadata"),
    ({"metadata": "x"}, "metadata"),
    ({"task": "ok", "metadata": "bad"}, "metadata"),
    ({"task": "ok", "status": "complete"}, "status"),
    ({"task": "ok", "cost_usd": 0}, "cost_usd"),
    ({"task": "ok", "id": "x"}, "id"),
    ({"task": "ok", "nonsense": 1}, "nonsense"),
])
def test_it_rejects_bad_bodies_without_applying_anything(api, make_chain, body, field):
    c = make_chain(task="original", metadata={"keep": True})
    r = _patch(api, c, body)
    assert r.status_code == 400 and field in r.json(), r.json()
    fresh = Chain.objects.get(pk=c.pk)
    assert (fresh.task, fresh.metadata, fresh.updated_at) == ("original", {"keep": True}, c.updated_at)
    assert not AuditEvent.objects.filter(action="chain.updated").exists()


def test_it_names_read_only_and_unknown_keys(api, make_chain):
    c = make_chain()
    r = _patch(api, c, {"status": "complete", "colour": "red"})
    assert r.json() == {"colour": ["Unknown field."], "status": ["This field is read-only."]}


def test_a_fresh_if_match_succeeds_and_returns_the_new_etag(api, make_chain):
    c = make_chain()
    etag = api.get(f"/api/chains/{c.id}/").headers["ETag"]
    r = _patch(api, c, {"task": "edited"}, HTTP_IF_MATCH=etag)
    assert r.status_code == 200 and r.headers["ETag"] != etag
    assert api.get(f"/api/chains/{c.id}/").headers["ETag"] == r.headers["ETag"]


def test_a_stale_if_match_gets_412_and_changes_nothing(api, make_chain):
    c = make_chain(task="original")
    stale = api.get(f"/api/chains/{c.id}/").headers["ETag"]
    assert _patch(api, c, {"task": "first edit"}).status_code == 200
    r = _patch(api, c, {"task": "second edit"}, HTTP_IF_MATCH=stale)
    assert r.status_code == 412
    assert Chain.objects.get(pk=c.pk).task == "first edit"


def test_if_match_star_always_matches(api, make_chain):
    c = make_chain()
    assert _patch(api, c, {"task": "x"}, HTTP_IF_MATCH="*").status_code == 200


def test_patch_of_an_unknown_chain_is_404(api):
    r = api.patch("/api/chains/00000000-0000-0000-0000-000000000000/", {"task": "x"}, format="json")
    assert r.status_code == 404
