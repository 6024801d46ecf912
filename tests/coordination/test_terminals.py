"""Terminals: API (open, output chunks, messages, exit) and the page with its deep links."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from coordination.models import Terminal, Worker
from observability import links
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db


def test_it_opens_a_terminal_and_emits_registered(api):
    Worker.register("w1")
    r = api.post("/api/terminals/", {"id": "t1", "worker": "w1", "model": "sonnet"}, format="json")
    assert r.status_code == 201 and r.json()["activity_state"] == "idle"
    assert AuditEvent.objects.filter(action="terminal.registered", target_id="t1").exists()


def test_it_refuses_a_duplicate_running_terminal(api):
    Terminal.open("t1")
    r = api.post("/api/terminals/", {"id": "t1"}, format="json")
    assert r.status_code == 400 and "already running" in r.json()["id"][0]


def test_it_reopens_a_stopped_terminal(api):
    Terminal.open("t1").exit(0)
    assert api.post("/api/terminals/", {"id": "t1"}, format="json").status_code == 201


def test_it_caps_the_pool(api):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"max_pool_terminals": 2})
    Terminal.open("t1")
    Terminal.open("t2")
    r = api.post("/api/terminals/", {"id": "t3"}, format="json")
    assert r.status_code == 400 and "Maximum terminals (2)" in r.json()["id"][0]


@pytest.mark.parametrize("body,field", [({"id": "a b"}, "id"), ({"id": "t", "role": "boss"}, "role"),
                                        ({"id": "t", "worker": "ghost"}, "worker"),
                                        ({"id": "t", "task": "ghost"}, "task")])
def test_it_rejects_bad_terminal_bodies(api, body, field):
    r = api.post("/api/terminals/", body, format="json")
    assert r.status_code == 400 and field in r.json()


def test_output_is_appended_in_chunks_and_tailed(api):
    t = Terminal.open("t1")
    for text in ("one\n", "two\nthree\n"):
        assert api.post("/api/terminals/t1/output/", {"text": text}, format="json").status_code == 201
    assert t.chunks.count() == 2
    assert api.get("/api/terminals/t1/output/?lines=2").json()["output"] == "two\nthree"
    assert api.get("/api/terminals/t1/output/?lines=0").status_code == 400
    assert api.get("/api/terminals/t1/output/?lines=x").status_code == 400


def test_output_marks_the_terminal_active_for_ten_seconds():
    t = Terminal.open("t1")
    t.append("hi")
    assert t.activity_state() == "active"
    assert t.activity_state(timezone.now() + timedelta(seconds=11)) == "idle"


def test_a_stopped_terminal_takes_no_output(api):
    Terminal.open("t1").exit(1)
    r = api.post("/api/terminals/t1/output/", {"text": "x"}, format="json")
    assert r.status_code == 409


def test_exit_emits_exited_once(api):
    Terminal.open("t1")
    r = api.post("/api/terminals/t1/exit/", {"exit_code": 3}, format="json")
    assert r.json()["status"] == "stopped" and r.json()["exit_code"] == 3
    api.post("/api/terminals/t1/exit/", {}, format="json")
    assert AuditEvent.objects.filter(action="terminal.exited").count() == 1


def test_messages_are_sent_and_listed_both_ways(api):
    Terminal.open("t1")
    Terminal.open("t2")
    api.post("/api/terminals/t1/messages/", {"to": "t2", "thread": "x", "content": "hi"},
             format="json")
    api.post("/api/terminals/t2/messages/", {"to": "master", "content": "yo"}, format="json")
    got = api.get("/api/terminals/t2/messages/").json()["results"]
    assert [(m["sender"], m["to"]) for m in got] == [("t1", "t2"), ("t2", "master")]
    r = api.post("/api/terminals/t1/messages/", {"to": "t2"}, format="json")
    assert r.status_code == 400 and "content" in r.json()


def test_timeline_links_resolve_tasks_and_terminals():
    from coordination.models import Task

    Task.create_many([{"id": "a"}])
    Terminal.open("t1")
    out = links.resolve([("task", "a"), ("task", "gone"), ("terminal", "t1")])
    assert out == {("task", "a"): "/tasks/?task=a", ("task", "gone"): None,
                   ("terminal", "t1"): "/terminals/?tab=t1"}


# --- page ----------------------------------------------------------------------------------


def test_the_page_lists_a_tab_per_terminal(alice_client):
    Terminal.open("t1")
    Terminal.open("t2")
    html = alice_client.get("/terminals/").content.decode()
    assert 'data-tab="t1"' in html and 'data-tab="t2"' in html
    assert 'data-copy-permalink="/terminals/?tab=t1"' in html
    assert 'id="panel-t2" aria-labelledby="tab-t2" data-panel="t2" hidden' in html


def test_the_tab_parameter_selects_the_tab(alice_client):
    Terminal.open("t1")
    Terminal.open("t2")
    html = alice_client.get("/terminals/?tab=t2").content.decode()
    assert 'id="panel-t1" aria-labelledby="tab-t1" data-panel="t1" hidden' in html
    assert 'class="tab active" id="tab-t2"' in html


def test_an_unknown_tab_shows_a_notice_and_the_first_tab(alice_client):
    Terminal.open("t1")
    html = alice_client.get("/terminals/?tab=nope").content.decode()
    assert "No terminal “nope”" in html and 'class="tab active" id="tab-t1"' in html


def test_the_panel_fragment_shows_output_and_messages(alice_client):
    t = Terminal.open("t1")
    t.append("hello world\n")
    html = alice_client.get("/views/terminal/t1/").content.decode()
    assert "hello world" in html and "No messages." in html
    assert alice_client.get("/views/terminal/nope/").status_code == 404


def test_the_panel_fragment_is_staff_only(anon_client, bob_client):
    Terminal.open("t1")
    assert anon_client.get("/views/terminal/t1/").status_code == 302
    assert bob_client.get("/views/terminal/t1/").status_code == 403


def test_a_stale_activity_reads_idle_or_waiting():
    t = Terminal.open("t1")
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert t.activity_state() == "idle"
