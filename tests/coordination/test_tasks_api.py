"""/api/tasks/ and friends: shapes, bad input, conflicts, and access for every endpoint."""

from __future__ import annotations

import pytest

from coordination.models import CoordinatorState, DeadLetter, Task, Worker
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db


def post(api, path, body=None):
    return api.post(path, body or {}, format="json")


def test_it_creates_a_task(api):
    r = post(api, "/api/tasks/", {"id": "a", "task": "fix the bug", "priority": 2,
                                  "metadata": {"k": 1}})
    assert r.status_code == 201
    body = r.json()
    assert (body["id"], body["category"], body["deps"], body["status"]) == (
        "a", "debugging", [], "pending")


def test_it_creates_a_batch_with_internal_deps(api):
    r = post(api, "/api/tasks/batch/", {"tasks": [{"id": "b", "deps": ["a"]}, {"id": "a"}]})
    assert r.status_code == 201 and [t["id"] for t in r.json()] == ["b", "a"]


def test_a_batch_cycle_names_the_path_and_writes_nothing(api):
    r = post(api, "/api/tasks/batch/", {"tasks": [{"id": "a", "deps": ["b"]},
                                                  {"id": "b", "deps": ["a"]}]})
    assert r.status_code == 400
    [(field, [msg])] = r.json().items()
    assert field.startswith("tasks[") and "→" in msg
    assert not Task.objects.exists()


@pytest.mark.parametrize("body,field", [
    ({"id": "a", "deps": ["ghost"]}, "deps"),
    ({"id": "a", "deps": ["a"]}, "deps"),
    ({"id": "bad id!"}, "id"),
    ({"id": "a", "priority": "high"}, "priority"),
    ({"id": "a", "status": "complete"}, "status"),
    ({"id": "a", "metadata": [1]}, "metadata"),
])
def test_it_rejects_bad_task_bodies(api, body, field):
    r = post(api, "/api/tasks/", body)
    assert r.status_code == 400 and field in r.json()
    assert not Task.objects.exists()


def test_it_rejects_a_duplicate_id(api):
    post(api, "/api/tasks/", {"id": "a"})
    r = post(api, "/api/tasks/", {"id": "a"})
    assert r.status_code == 400 and "already exists" in r.json()["id"][0]


def test_it_lists_and_filters(api):
    Task.create_many([{"id": "a", "task": "write tests"}, {"id": "b", "task": "deploy"}])
    assert api.get("/api/tasks/").json()["count"] == 2
    assert [t["id"] for t in api.get("/api/tasks/?q=TEST").json()["results"]] == ["a"]
    assert api.get("/api/tasks/?category=deployment").json()["count"] == 1
    assert api.get("/api/tasks/?status=complete").json()["count"] == 0
    assert api.get("/api/tasks/?status=bogus").status_code == 400


def test_detail_explains_why_not_running(api):
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    why = api.get("/api/tasks/b/").json()["why_not_running"]
    assert "waiting on deps a" in why and "no live worker" in why


def test_patch_edits_and_refuses_unknown_keys(api):
    Task.create_many([{"id": "a"}])
    r = api.patch("/api/tasks/a/", {"priority": 7}, format="json")
    assert r.status_code == 200 and r.json()["priority"] == 7
    r = api.patch("/api/tasks/a/", {"priority": 1, "status": "complete"}, format="json")
    assert r.status_code == 400 and "status" in r.json()
    assert Task.objects.get().priority == 7


def test_delete_removes_and_refuses_held_tasks(api):
    CoordinatorState.load().start()
    Worker.register("w1")
    Task.create_many([{"id": "a"}, {"id": "b"}])
    post(api, "/api/tasks/claim/", {"worker": "w1"})
    assert api.delete("/api/tasks/a/").status_code == 409
    assert api.delete("/api/tasks/b/").status_code == 204
    assert api.delete("/api/tasks/b/").status_code == 404


def test_deps_endpoint_adds_lists_and_removes_edges(api):
    Task.create_many([{"id": "a"}, {"id": "b"}])
    assert post(api, "/api/tasks/b/deps/", {"dep": "a"}).json()["deps"] == ["a"]
    assert api.get("/api/tasks/b/deps/").json() == ["a"]
    assert api.delete("/api/tasks/b/deps/a/").json()["deps"] == []


def test_deps_endpoint_names_a_cycle(api):
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    r = post(api, "/api/tasks/a/deps/", {"dep": "b"})
    assert r.status_code == 400 and r.json() == {"dep": ["Dependency cycle: a → b → a."]}


def test_deps_endpoint_rejects_an_unknown_dep(api):
    Task.create_many([{"id": "a"}])
    r = post(api, "/api/tasks/a/deps/", {"dep": "ghost"})
    assert r.status_code == 400 and "ghost" in r.json()["dep"][0]


def test_completing_a_task_you_do_not_hold_is_409(api):
    CoordinatorState.load().start()
    Worker.register("w1")
    Worker.register("w2")
    Task.create_many([{"id": "a"}])
    post(api, "/api/tasks/claim/", {"worker": "w1"})
    r = post(api, "/api/tasks/a/complete/", {"worker": "w2"})
    assert r.status_code == 409 and "held by w1" in r.json()["detail"]
    assert Task.objects.get().status == "assigned"


def test_fail_endpoint_applies_the_failure_policy(api):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"max_task_retries": 1})
    CoordinatorState.load().start()
    Worker.register("w1")
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    post(api, "/api/tasks/claim/", {"worker": "w1"})
    r = post(api, "/api/tasks/a/fail/", {"worker": "w1", "error": "boom"})
    assert r.status_code == 200 and r.json()["status"] == "failed"
    assert Task.objects.get(code="b").status == "cancelled"
    letter = api.get("/api/dead-letters/").json()["results"][0]
    assert (letter["task"], letter["error"], letter["status"]) == ("a", "boom", "pending")


def test_cancel_and_retry_endpoints(api):
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    r = post(api, "/api/tasks/a/cancel/", {"reason": "nope"})
    assert r.json() == {"cancelled": ["a", "b"]}
    r = post(api, "/api/tasks/a/retry/")
    assert r.status_code == 200 and r.json()["restored"] == ["b"]
    assert post(api, "/api/tasks/a/retry/").status_code == 409


def test_graph_and_progress_endpoints(api):
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    g = api.get("/api/tasks/graph/").json()
    assert g["levels"] == [["a"], ["b"]] and g["edges"] == [{"from": "a", "to": "b"}]
    assert api.get("/api/tasks/progress/").json()["total"] == 2


def test_worker_register_heartbeat_and_detail(api):
    r = post(api, "/api/workers/", {"id": "w1", "capabilities": ["testing"]})
    assert r.status_code == 201 and r.json()["live"] is True
    assert post(api, "/api/workers/", {"id": "w1"}).status_code == 200
    assert post(api, "/api/workers/w1/heartbeat/").status_code == 200
    assert api.get("/api/workers/w1/").json()["capabilities"] == []
    assert post(api, "/api/workers/", {"id": "no spaces"}).status_code == 400


def test_dead_letter_retry_and_dismiss_endpoints(api):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"max_task_retries": 1})
    w = Worker.register("w1")[0]
    Task.create_many([{"id": "a"}, {"id": "b"}])
    for _code in ("a", "b"):
        t, _ = Task.claim_for(w)
        t.fail(w, "x")
    la, lb = DeadLetter.objects.order_by("task__code")
    r = post(api, f"/api/dead-letters/{la.code}/retry/")
    assert r.status_code == 200 and r.json()["status"] == "retried"
    r = post(api, f"/api/dead-letters/{lb.code}/dismiss/", {"reason": "meh"})
    assert r.json()["status"] == "dismissed"
    assert post(api, f"/api/dead-letters/{lb.code}/dismiss/").status_code == 409
    assert api.get("/api/dead-letters/?status=dismissed").json()["count"] == 1


# --- access --------------------------------------------------------------------------------

GETS = ["/api/tasks/", "/api/tasks/graph/", "/api/tasks/progress/", "/api/workers/",
        "/api/coordinator/", "/api/dead-letters/", "/api/terminals/"]
POSTS = ["/api/tasks/", "/api/tasks/batch/", "/api/tasks/claim/", "/api/workers/",
         "/api/coordinator/start/", "/api/coordinator/drain/", "/api/coordinator/stop/",
         "/api/rate-limit/acquire/", "/api/terminals/"]


@pytest.mark.parametrize("path", GETS + POSTS)
def test_it_rejects_anonymous(anon_api, path):
    assert anon_api.post(path).status_code == 401 if path in POSTS else \
        anon_api.get(path).status_code == 401


@pytest.mark.parametrize("path", GETS + POSTS)
def test_it_requires_staff(bob_api, path):
    r = bob_api.post(path, {}, format="json") if path in POSTS else bob_api.get(path)
    assert r.status_code == 403


@pytest.mark.parametrize("path", GETS)
def test_staff_can_read(api, path):
    assert api.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/api/tasks/claim/", "/api/coordinator/start/",
                                  "/api/rate-limit/acquire/"])
def test_it_rejects_get(api, path):
    assert api.get(path).status_code == 405


def test_object_actions_require_staff(bob_api, anon_api):
    Task.create_many([{"id": "a"}])
    Worker.register("w1")
    for path in ["/api/tasks/a/cancel/", "/api/tasks/a/retry/", "/api/tasks/a/deps/",
                 "/api/tasks/a/start/", "/api/workers/w1/heartbeat/", "/api/workers/w1/cost/",
                 "/api/workers/w1/rate-error/"]:
        assert bob_api.post(path, {}, format="json").status_code == 403, path
        assert anon_api.post(path, {}, format="json").status_code == 401, path


def test_bearer_tokens_work(alice_token):
    from rest_framework.test import APIClient

    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert c.post("/api/workers/", {"id": "w1"}, format="json").status_code == 201
