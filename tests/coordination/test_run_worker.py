"""manage.py run_worker: a real process loop that drains a DAG by running a command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from coordination.models import CoordinatorState, DeadLetter, Task, Terminal, Worker
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db


def run(**opts):
    out = StringIO()
    call_command("run_worker", stdout=out, poll=0.01, exit_when_idle=True, **opts)
    return out.getvalue()


def test_it_drains_a_dag_in_dependency_order():
    CoordinatorState.load().start()
    Task.create_many([{"id": "c", "task": "third", "deps": ["b"]},
                      {"id": "b", "task": "second", "deps": ["a"]}, {"id": "a", "task": "first"}])
    out = run(id="w1", command="echo")
    assert set(Task.objects.values_list("status", flat=True)) == {"complete"}
    assert out.index("a: complete") < out.index("b: complete") < out.index("c: complete")
    t = Terminal.objects.get(code="w1")
    assert "first\n" in t.output() and t.status == "stopped"
    assert Task.objects.get(code="a").result == "first\n"
    assert Worker.objects.get().status == "stopped"


def test_it_reports_failures_through_the_failure_policy():
    OperatorSettings.objects.update_or_create(pk=1, defaults={"max_task_retries": 1})
    CoordinatorState.load().start()
    Task.create_many([{"id": "a", "task": "x"}, {"id": "b", "deps": ["a"]}])
    out = run(id="w1", command="sh -c 'echo nope; exit 3' --")
    assert "a: failed (exit 3), now failed" in out
    assert DeadLetter.objects.get().error.startswith("exit 3: nope")
    assert Task.objects.get(code="b").status == "cancelled"


def test_it_passes_the_task_text_as_one_argument_and_in_the_environment():
    CoordinatorState.load().start()
    Task.create_many([{"id": "a", "task": "it's $HOME; rm -rf /"}])
    run(id="w1", command='sh -c \'printf "%s|%s" "$1" "$OPERATOR_TASK_ID"\' --')
    assert Task.objects.get().result == "it's $HOME; rm -rf /|a"


def test_it_stops_when_over_budget():
    CoordinatorState.load().start()
    Task.create_many([{"id": "a"}])
    Worker.register("w1")[0].record_cost(50)
    out = run(id="w1", command="echo")
    assert "stopping: over budget" in out and Task.objects.get().status == "pending"


def test_it_waits_while_the_coordinator_is_not_running():
    Task.create_many([{"id": "a"}])
    from coordination.management.commands.run_worker import WorkerLoop

    loop = WorkerLoop("w1", "echo", [])
    assert loop.step() is False
    CoordinatorState.load().start()
    assert loop.step() is True


def test_it_replaces_a_terminal_left_running_by_a_dead_process():
    Terminal.open("w1")
    run(id="w1", command="echo")
    assert Terminal.objects.get(code="w1").status == "stopped"
