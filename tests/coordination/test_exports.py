"""Streamed exports of tasks, terminal messages and dead letters (/api/export/<kind>/)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from coordination.models import DeadLetter, Task, TerminalMessage

pytestmark = pytest.mark.django_db

KINDS = ["tasks", "terminal-messages", "dead-letters"]


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("kind", KINDS)
def test_it_rejects_anonymous(anon_api, kind):
    assert anon_api.get(f"/api/export/{kind}/").status_code == 401


@pytest.mark.parametrize("kind", KINDS)
def test_it_requires_staff(bob_api, kind):
    assert bob_api.get(f"/api/export/{kind}/").status_code == 403


def test_it_exports_tasks_as_csv_with_the_list_filters(api):
    Task.create_many([
        {"id": "build", "task": "=HYPERLINK(\"http://x\")"},
        {"id": "ship", "task": "ship it", "deps": ["build"]},
    ])
    r = api.get("/api/export/tasks/?format=csv&q=hyperlink")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert "tasks-" in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(_body(r))))
    assert rows[0][:3] == ["id", "text", "status"]
    assert len(rows) == 2
    assert rows[1][0] == "build"
    assert rows[1][1].startswith("'=")  # formula injection neutralised


def test_it_rejects_a_bad_task_filter(api):
    r = api.get("/api/export/tasks/?status=bogus")
    assert r.status_code == 400 and "status" in r.json()


def test_it_exports_terminal_messages_as_jsonl(api):
    TerminalMessage.objects.create(sender="w1", recipient="master", thread="t", content="hi")
    TerminalMessage.objects.create(sender="w2", recipient="master", thread="t", content="yo")
    r = api.get("/api/export/terminal-messages/?format=jsonl&sender=w2")
    lines = [json.loads(x) for x in _body(r).splitlines()]
    assert [m["content"] for m in lines] == ["yo"]


def test_it_exports_dead_letters_as_json(api):
    (task,) = Task.create_many([{"id": "flaky", "task": "x"}])
    task.error = "boom"
    task.status = "failed"
    task.save()
    DeadLetter.add(task, None)
    data = json.loads(_body(api.get("/api/export/dead-letters/?format=json")))
    assert [(d["task"], d["error"], d["status"]) for d in data] == [("flaky", "boom", "pending")]
