"""abort/, restart/, finish/, DELETE on /api/chains/{id}/."""

from __future__ import annotations

import pytest

from chains.models import Chain
from observability.models import AuditEvent

pytestmark = pytest.mark.django_db

ACTIONS = ["abort", "restart", "finish", "sessions"]


@pytest.mark.parametrize("name", ACTIONS)
def test_it_rejects_get(api, make_chain, name):
    c = make_chain()
    assert api.get(f"/api/chains/{c.id}/{name}/").status_code == 405


@pytest.mark.parametrize("name", ACTIONS)
def test_it_requires_staff(bob_api, make_chain, name):
    c = make_chain()
    assert bob_api.post(f"/api/chains/{c.id}/{name}/", {}, format="json").status_code == 403
    assert bob_api.delete(f"/api/chains/{c.id}/").status_code == 403
    assert Chain.objects.get(pk=c.pk).status == "running"


@pytest.mark.parametrize("name", ACTIONS)
def test_it_rejects_anonymous(anon_api, make_chain, name):
    c = make_chain()
    assert anon_api.post(f"/api/chains/{c.id}/{name}/", {}, format="json").status_code == 401
    assert anon_api.delete(f"/api/chains/{c.id}/").status_code == 401


def test_abort_stops_a_running_chain_and_emits(api, make_chain):
    c = make_chain()
    r = api.post(f"/api/chains/{c.id}/abort/")
    assert r.status_code == 200 and r.json()["status"] == "aborted"
    assert AuditEvent.objects.get(action="chain.aborted").data == {"from": "running"}


@pytest.mark.parametrize("status", ["complete", "failed", "aborted", "archived"])
def test_abort_is_409_unless_running(api, make_chain, status):
    c = make_chain(status=status)
    r = api.post(f"/api/chains/{c.id}/abort/")
    assert r.status_code == 409 and status in r.json()["detail"]
    assert Chain.objects.get(pk=c.pk).status == status


def test_restart_creates_a_linked_running_chain(api, make_chain):
    c = make_chain(status="failed", model="opus", max_turns=12, project_dir="/srv/x",
                   branch="b", metadata={"k": 1})
    r = api.post(f"/api/chains/{c.id}/restart/")
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != str(c.id) and body["restarted_from"] == str(c.id)
    assert (body["status"], body["model"], body["max_turns"], body["project_dir"]) == (
        "running", "opus", 12, "/srv/x")
    assert Chain.objects.get(pk=c.pk).status == "failed"
    e = AuditEvent.objects.get(action="chain.restarted")
    assert e.target_id == body["id"] and e.data["restarted_from"] == str(c.id)


def test_restart_is_409_while_running(api, make_chain):
    c = make_chain()
    assert api.post(f"/api/chains/{c.id}/restart/").status_code == 409
    assert Chain.objects.count() == 1


@pytest.mark.parametrize("status,event", [
    ("complete", "chain.completed"), ("assumed-complete", "chain.completed"),
    ("max-continuations", "chain.completed"), ("failed", "chain.failed"),
])
def test_finish_sets_a_finished_status_and_emits(api, make_chain, status, event):
    c = make_chain()
    r = api.post(f"/api/chains/{c.id}/finish/", {"status": status}, format="json")
    assert r.status_code == 200 and r.json()["status"] == status
    assert AuditEvent.objects.get(action=event).data["status"] == status


@pytest.mark.parametrize("body", [{}, {"status": "running"}, {"status": "aborted"},
                                  {"status": "archived"}, {"status": "complete", "x": 1}])
def test_finish_rejects_bad_statuses(api, make_chain, body):
    c = make_chain()
    r = api.post(f"/api/chains/{c.id}/finish/", body, format="json")
    assert r.status_code == 400
    assert Chain.objects.get(pk=c.pk).status == "running"


def test_finish_is_409_unless_running(api, make_chain):
    c = make_chain(status="aborted")
    r = api.post(f"/api/chains/{c.id}/finish/", {"status": "complete"}, format="json")
    assert r.status_code == 409
    assert not AuditEvent.objects.filter(action="chain.completed").exists()


def test_delete_removes_the_chain_and_its_sessions(api, make_chain):
    c = make_chain()
    c.record_session(turns=1, cost_usd=1)
    c.finish("complete")
    child = c.restart()
    r = api.delete(f"/api/chains/{c.id}/")
    assert r.status_code == 204
    assert not Chain.objects.filter(pk=c.pk).exists()
    assert Chain.objects.get(pk=child.pk).restarted_from is None
    e = AuditEvent.objects.get(action="chain.deleted")
    assert e.target_id == str(c.id)


def test_delete_is_409_while_running(api, make_chain):
    c = make_chain()
    r = api.delete(f"/api/chains/{c.id}/")
    assert r.status_code == 409 and "abort" in r.json()["detail"]
    assert Chain.objects.filter(pk=c.pk).exists()
    assert not AuditEvent.objects.filter(action="chain.deleted").exists()


def test_actions_on_an_unknown_chain_are_404(api):
    ident = "00000000-0000-0000-0000-000000000000"
    for name in ("abort", "restart"):
        assert api.post(f"/api/chains/{ident}/{name}/").status_code == 404
    assert api.delete(f"/api/chains/{ident}/").status_code == 404
