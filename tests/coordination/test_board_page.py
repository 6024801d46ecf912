"""The /tasks/ board: columns, why-not-running, SVG, gauges, add form and actions."""

from __future__ import annotations

import pytest

from coordination.models import CoordinatorState, DeadLetter, Task, Worker
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db


def test_the_board_shows_cards_in_status_columns(alice_client):
    Task.create_many([{"id": "a", "task": "write tests"}, {"id": "b", "deps": ["a"]}])
    Task.objects.get(code="a").cancel()
    html = alice_client.get("/tasks/").content.decode()
    assert 'id="task-a"' in html and 'id="task-b"' in html
    assert html.index('data-status="pending"') < html.index('data-status="cancelled"')


def test_cards_say_why_they_are_not_running(alice_client):
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    html = alice_client.get("/tasks/").content.decode()
    assert "Why not running: waiting on deps a; coordinator not running (init); no live worker" in html


def test_the_board_draws_the_dependency_svg_by_level(alice_client):
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    html = alice_client.get("/tasks/").content.decode()
    assert '<svg class="dag"' in html and html.count('class="dag-edge"') == 1
    assert "2 tasks in 2 levels" in html


def test_the_board_shows_progress_gauges_and_controls(alice_client):
    html = alice_client.get("/tasks/").content.decode()
    for needle in ['<progress max="100" value="100"', "Requests / min", "Global budget",
                   'action="/tasks/coordinator/start/"', 'id="coordinator-status">init<']:
        assert needle in html


def test_the_task_parameter_highlights_a_card(alice_client):
    Task.create_many([{"id": "a"}])
    html = alice_client.get("/tasks/?task=a").content.decode()
    assert 'class="task-card highlight" id="task-a"' in html
    assert 'data-copy-permalink="/tasks/?task=a"' in html


def test_an_unknown_task_parameter_shows_a_notice(alice_client):
    assert "was not found" in alice_client.get("/tasks/?task=ghost").content.decode()


def test_htmx_gets_only_the_board_fragment(alice_client):
    r = alice_client.get("/tasks/", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert html.startswith('<div id="board"') and "<html" not in html


def test_the_board_filters_with_the_shared_filterset(alice_client):
    Task.create_many([{"id": "alpha"}, {"id": "beta"}])
    html = alice_client.get("/tasks/?q=alp").content.decode()
    assert 'id="task-alpha"' in html and 'id="task-beta"' not in html


# --- add -----------------------------------------------------------------------------------


def test_it_adds_a_task_with_deps(alice_client):
    Task.create_many([{"id": "a"}])
    r = alice_client.post("/tasks/add/", {"id": "b", "task": "do it", "priority": "2",
                                          "deps": "a"})
    assert r.status_code == 302 and r["Location"] == "/tasks/?task=b"
    assert list(Task.objects.get(code="b").deps.values_list("code", flat=True)) == ["a"]


def test_adding_names_an_unknown_dep(alice_client):
    r = alice_client.post("/tasks/add/", {"id": "b", "task": "x", "deps": "ghost"})
    assert r.status_code == 200 and "Unknown dependency" in r.content.decode()
    assert not Task.objects.exists()


def test_adding_names_a_bad_id(alice_client):
    r = alice_client.post("/tasks/add/", {"id": "b c", "task": "x"})
    assert r.status_code == 200 and 'id="id-errors"' in r.content.decode()


# --- actions -------------------------------------------------------------------------------


def test_it_cancels_from_the_board(alice_client):
    Task.create_many([{"id": "a"}, {"id": "b", "deps": ["a"]}])
    r = alice_client.post("/tasks/a/cancel/", HTTP_HX_REQUEST="true")
    assert "Cancelled a, b." in r.content.decode()
    assert Task.objects.filter(status="cancelled").count() == 2


def test_it_retries_and_deletes_from_the_board(alice_client):
    Task.create_many([{"id": "a"}])
    Task.objects.get().cancel()
    alice_client.post("/tasks/a/retry/")
    assert Task.objects.get().status == "pending"
    r = alice_client.post("/tasks/a/delete/")
    assert r.status_code == 302 and not Task.objects.exists()


def test_a_refused_action_is_reported(alice_client):
    CoordinatorState.load().start()
    w = Worker.register("w1")[0]
    Task.create_many([{"id": "a"}])
    Task.claim_for(w)
    r = alice_client.post("/tasks/a/delete/", HTTP_HX_REQUEST="true")
    assert "assigned; cancel or fail it first" in r.content.decode()
    assert Task.objects.exists()


def test_coordinator_controls(alice_client):
    alice_client.post("/tasks/coordinator/start/")
    assert CoordinatorState.load().status == "running"
    r = alice_client.post("/tasks/coordinator/stop/", HTTP_HX_REQUEST="true")
    assert "Coordinator stopped." in r.content.decode()
    r = alice_client.post("/tasks/coordinator/drain/", HTTP_HX_REQUEST="true")
    assert "Cannot move the coordinator from stopped to draining" in r.content.decode()


def test_dead_letter_actions(alice_client):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"max_task_retries": 1})
    w = Worker.register("w1")[0]
    Task.create_many([{"id": "a"}, {"id": "b"}])
    for _ in range(2):
        t, _ = Task.claim_for(w)
        t.fail(w, "boom")
    la, lb = DeadLetter.objects.order_by("task__code")
    assert 'data-dead-letter="a"' in alice_client.get("/tasks/").content.decode()
    alice_client.post(f"/tasks/dead-letters/{la.code}/retry/")
    alice_client.post(f"/tasks/dead-letters/{lb.code}/dismiss/", {"reason": "meh"})
    la.refresh_from_db()
    lb.refresh_from_db()
    assert (la.status, lb.status, lb.dismiss_reason) == ("retried", "dismissed", "meh")


MUTATING = ["/tasks/add/", "/tasks/a/cancel/", "/tasks/a/retry/", "/tasks/a/delete/",
            "/tasks/coordinator/start/", "/tasks/coordinator/drain/", "/tasks/coordinator/stop/",
            "/tasks/dead-letters/00000000-0000-0000-0000-000000000000/retry/",
            "/tasks/dead-letters/00000000-0000-0000-0000-000000000000/dismiss/"]


@pytest.mark.parametrize("path", MUTATING)
def test_it_rejects_get(alice_client, path):
    Task.create_many([{"id": "a"}])
    assert alice_client.get(path).status_code == 405


@pytest.mark.parametrize("path", MUTATING)
def test_it_requires_staff(bob_client, path):
    Task.create_many([{"id": "a"}])
    assert bob_client.post(path).status_code == 403
    assert Task.objects.get().status == "pending"


@pytest.mark.parametrize("path", MUTATING)
def test_it_rejects_anonymous(anon_client, path):
    Task.create_many([{"id": "a"}])
    r = anon_client.post(path)
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert CoordinatorState.load().status == "init"


def test_an_empty_board_shows_no_progress_figure(alice_client):
    html = alice_client.get("/tasks/").content.decode()
    assert '<div class="value" id="progress-percent">—</div>' in html
