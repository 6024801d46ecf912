from __future__ import annotations

import pytest

from observability.events import emit

pytestmark = pytest.mark.django_db


def test_it_rejects_anonymous(anon_api):
    r = anon_api.get("/api/audit/")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_it_requires_staff(bob_api):
    assert bob_api.get("/api/audit/").status_code == 403


def test_it_lists_newest_first(api):
    emit("chain.created", target=("chain", "a"))
    emit("chain.aborted", target=("chain", "a"))
    body = api.get("/api/audit/").json()
    assert body["count"] == 2
    assert [e["action"] for e in body["results"]] == ["chain.aborted", "chain.created"]


def test_it_filters_by_action(api):
    emit("chain.created", target=("chain", "a"))
    emit("task.created", target=("task", "t"))
    body = api.get("/api/audit/?action=task.created").json()
    assert body["count"] == 1


def test_it_filters_by_target(api):
    emit("chain.created", target=("chain", "a"))
    emit("chain.created", target=("chain", "b"))
    assert api.get("/api/audit/?target_type=chain&target_id=b").json()["count"] == 1
    assert api.get("/api/audit/?target_type=task").json()["count"] == 0


def test_it_paginates_with_limit_and_offset(api):
    for i in range(5):
        emit("chain.created", target=("chain", str(i)))
    body = api.get("/api/audit/?limit=2&offset=1").json()
    assert body["count"] == 5 and len(body["results"]) == 2
    assert body["next"] and body["previous"]


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=201", "limit"),
                                         ("limit=x", "limit"), ("offset=-1", "offset")])
def test_it_rejects_bad_paging(api, query, field):
    r = api.get(f"/api/audit/?{query}")
    assert r.status_code == 400
    assert field in r.json()


def test_it_is_read_only(api):
    assert api.post("/api/audit/", {"action": "x"}).status_code == 405
