"""Task queue: add, remove, assign, deps, cycle detection, priority, failure policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from coordination import dag
from coordination.models import DeadLetter, Invalid, StateConflict, Task, Worker
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db


def codes(qs):
    return [t.code for t in qs]


# --- pure DAG module ---------------------------------------------------------------------------


def test_it_finds_no_cycle_in_a_chain():
    assert dag.find_cycle({"a": [], "b": ["a"], "c": ["b"]}) is None


def test_it_names_the_cycle_path():
    cycle = dag.find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]})
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def test_it_reports_a_self_loop_as_a_cycle():
    assert dag.find_cycle({"a": ["a"]}) == ["a", "a"]


def test_it_predicts_the_cycle_an_edge_would_close():
    g = {"a": [], "b": ["a"], "c": ["b"]}
    assert dag.cycle_if_added(g, "a", "c") == ["a", "c", "b", "a"]
    assert dag.cycle_if_added(g, "c", "a") is None


def test_it_layers_levels_topologically():
    g = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert dag.levels(g) == [["a"], ["b", "c"], ["d"]]


def test_it_refuses_levels_of_a_cyclic_graph():
    with pytest.raises(ValueError, match="cycle"):
        dag.levels({"a": ["b"], "b": ["a"]})


def test_it_orders_ready_ids_by_priority_then_age():
    tasks = {"a": ("pending", 0, 1.0, None), "b": ("pending", 5, 2.0, None),
             "c": ("pending", 5, 1.5, None), "d": ("complete", 9, 0.0, None)}
    assert dag.ready_ids(tasks, {}, now=10) == ["c", "b", "a"]


def test_it_holds_back_tasks_with_unfinished_or_unknown_deps():
    tasks = {"a": ("pending", 0, 1.0, None), "b": ("pending", 0, 2.0, None),
             "c": ("pending", 0, 3.0, None)}
    assert dag.ready_ids(tasks, {"b": ["a"], "c": ["ghost"]}, now=10) == ["a"]


def test_it_holds_back_tasks_in_backoff():
    tasks = {"a": ("pending", 0, 1.0, 20.0)}
    assert dag.ready_ids(tasks, {}, now=10) == []
    assert dag.ready_ids(tasks, {}, now=20) == ["a"]


@pytest.mark.parametrize("text,category", [
    ("Write unit tests for the parser", "testing"),
    ("Fix the crash on startup", "debugging"),
    ("Deploy release 1.2", "deployment"),
    ("Update the README guide", "documentation"),
    ("Plan the architecture", "planning"),
    ("zzz", ""),
])
def test_it_detects_the_category_from_text(text, category):
    assert dag.detect_category(text) == category


# --- add -----------------------------------------------------------------------------------------


def test_it_creates_a_task_with_defaults(make_tasks):
    t = make_tasks({"id": "a", "task": "implement the feature"})
    assert (t.status, t.priority, t.category, t.attempts) == ("pending", 0, "development", 0)
    assert AuditEvent.objects.filter(action="task.created", target_id="a").exists()


def test_it_generates_an_id_when_absent(make_tasks):
    t = make_tasks({"task": "x"})
    assert len(t.code) == 12


def test_it_keeps_an_explicit_category(make_tasks):
    assert make_tasks({"id": "a", "task": "write tests", "category": "review"}).category == "review"


def test_it_rejects_a_duplicate_id(make_tasks):
    make_tasks("a")
    with pytest.raises(Invalid) as e:
        Task.create_many([{"id": "a"}])
    assert e.value.field == "id"


def test_it_rejects_an_unknown_dependency(make_tasks):
    with pytest.raises(Invalid, match="Unknown dependency 'ghost'"):
        Task.create_many([{"id": "a", "deps": ["ghost"]}])
    assert not Task.objects.exists()


def test_it_rejects_a_self_dependency():
    with pytest.raises(Invalid, match="itself"):
        Task.create_many([{"id": "a", "deps": ["a"]}])


def test_it_allows_deps_among_a_batch():
    Task.create_many([{"id": "b", "deps": ["a"]}, {"id": "a"}])
    assert codes(Task.objects.get(code="b").deps.all()) == ["a"]


def test_it_rejects_a_cycle_within_a_batch_and_writes_nothing():
    with pytest.raises(Invalid, match="Dependency cycle: .*→"):
        Task.create_many([{"id": "a", "deps": ["b"]}, {"id": "b", "deps": ["a"]}], prefix="tasks")
    assert not Task.objects.exists()


def test_it_rejects_duplicate_ids_within_a_batch():
    with pytest.raises(Invalid, match="Duplicate"):
        Task.create_many([{"id": "a"}, {"id": "a"}])


# --- deps ----------------------------------------------------------------------------------------


def test_it_adds_an_edge(make_tasks):
    a, b = make_tasks("a", "b")
    assert b.add_dep(a) is True
    assert codes(b.deps.all()) == ["a"]


def test_it_adds_an_edge_idempotently(make_tasks):
    a, b = make_tasks("a", {"id": "b", "deps": ["a"]})
    assert b.add_dep(a) is False


def test_it_refuses_an_edge_closing_a_cycle_with_its_path(make_tasks):
    a, b, c = make_tasks("a", {"id": "b", "deps": ["a"]}, {"id": "c", "deps": ["b"]})
    with pytest.raises(Invalid) as e:
        a.add_dep(c)
    assert e.value.field == "dep" and "a → c → b → a" in e.value.message
    assert not a.deps.exists()


def test_it_refuses_a_self_edge(make_tasks):
    a = make_tasks("a")
    with pytest.raises(Invalid, match="itself"):
        a.add_dep(a)


def test_it_refuses_edges_on_a_finished_task(make_tasks):
    a, b = make_tasks("a", "b")
    Task.objects.filter(pk=b.pk).update(status="complete")
    b.refresh_from_db()
    with pytest.raises(StateConflict):
        b.add_dep(a)


def test_it_removes_an_edge(make_tasks):
    a, b = make_tasks("a", {"id": "b", "deps": ["a"]})
    assert b.remove_dep(a) is True
    assert b.remove_dep(a) is False


# --- remove --------------------------------------------------------------------------------------


def test_it_removes_a_task_and_its_edges(make_tasks):
    a, b = make_tasks("a", {"id": "b", "deps": ["a"]})
    a.remove()
    assert codes(Task.objects.all()) == ["b"] and not b.deps.exists()


def test_it_refuses_to_remove_a_held_task(make_tasks, worker, running):
    make_tasks("a")
    task, _ = Task.claim_for(worker)
    with pytest.raises(StateConflict):
        task.remove()


def test_deleting_a_failed_task_cascades_its_dead_letters(make_tasks, worker):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"max_task_retries": 1})
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    t.fail(worker, "boom")
    assert DeadLetter.objects.count() == 1
    t.remove()
    assert DeadLetter.objects.count() == 0


# --- ready, priority and assignment -----------------------------------------------------------


def test_it_lists_ready_tasks_by_priority_then_age(make_tasks):
    make_tasks("old", {"id": "hi", "priority": 5}, "new")
    assert codes(Task.objects.ready()) == ["hi", "old", "new"]


def test_it_holds_back_a_task_until_its_deps_complete(make_tasks, worker):
    make_tasks("a", {"id": "b", "deps": ["a"]})
    assert codes(Task.objects.ready()) == ["a"]
    a, _ = Task.claim_for(worker)
    a.complete(worker, "done")
    assert codes(Task.objects.ready()) == ["b"]


def test_it_assigns_the_best_ready_task(make_tasks, worker):
    make_tasks("a", {"id": "b", "priority": 3})
    task, _ = Task.claim_for(worker)
    assert (task.code, task.status, task.worker, task.attempts) == ("b", "assigned", worker, 1)
    assert AuditEvent.objects.filter(action="task.assigned", target_id="b").exists()


def test_it_never_assigns_a_task_twice(make_tasks, worker):
    make_tasks("a")
    other = Worker.register("w2")[0]
    assert Task.claim_for(worker)[0].code == "a"
    assert Task.claim_for(other) == (None, "no ready task")


def test_capability_strategy_prefers_matching_categories(make_tasks):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"assignment_strategy": "capability"})
    w = Worker.register("tester", ["testing"])[0]
    make_tasks({"id": "dev", "task": "implement", "priority": 9}, {"id": "t", "task": "write tests"})
    assert Task.claim_for(w)[0].code == "t"
    assert Task.claim_for(w)[0].code == "dev"


def test_least_loaded_strategy_holds_back_a_busy_worker(make_tasks, worker):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"assignment_strategy": "least-loaded"})
    Worker.register("idle")
    make_tasks("a", "b")
    assert Task.claim_for(worker)[0].code == "a"
    assert Task.claim_for(worker) == (None, "another live worker is less loaded")


def test_round_robin_serves_every_claimer(make_tasks, worker):
    other = Worker.register("w2")[0]
    make_tasks("a", "b")
    assert Task.claim_for(worker)[0].code == "a"
    assert Task.claim_for(other)[0].code == "b"


# --- start, complete, fail --------------------------------------------------------------------


def test_it_runs_a_task_to_completion(make_tasks, worker):
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    t.start(worker)
    t.complete(worker, "ok")
    t.refresh_from_db()
    assert (t.status, t.result) == ("complete", "ok") and t.finished_at


def test_it_refuses_completion_by_another_worker(make_tasks, worker):
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    with pytest.raises(StateConflict, match="held by w1, not w2"):
        t.complete(Worker.register("w2")[0])


def test_it_refuses_to_start_a_pending_task(make_tasks, worker):
    t = make_tasks("a")
    with pytest.raises(StateConflict, match="Cannot start"):
        t.start(worker)


def test_a_failed_attempt_returns_to_pending_with_backoff(make_tasks, worker):
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    assert t.fail(worker, "boom") == "pending"
    t.refresh_from_db()
    assert t.worker is None and t.not_before > timezone.now() and t.error == "boom"
    assert codes(Task.objects.ready()) == []


def test_backoff_doubles_per_attempt(make_tasks, worker):
    make_tasks("a")
    delays = []
    for _ in range(2):
        with time_machine.travel(timezone.now() + timedelta(minutes=10 * (len(delays) + 1))):
            t, _ = Task.claim_for(worker)
            t.fail(worker)
            t.refresh_from_db()
            delays.append((t.not_before - timezone.now()).total_seconds())
    assert round(delays[1] / delays[0]) == 2


def _exhaust(task_code, worker, retries=3):
    for i in range(retries):
        with time_machine.travel(timezone.now() + timedelta(hours=i + 1)):
            t, _ = Task.claim_for(worker)
            assert t.code == task_code
            t.fail(worker, f"boom {i}")
    return Task.objects.get(code=task_code)


def test_it_dead_letters_after_max_retries_and_cancels_dependents(make_tasks, worker):
    make_tasks("a", {"id": "b", "deps": ["a"]}, {"id": "c", "deps": ["b"]})
    a = _exhaust("a", worker)
    assert a.status == "failed"
    letter = DeadLetter.objects.get()
    assert (letter.task, letter.attempts, letter.error) == (a, 3, "boom 2")
    b, c = Task.objects.get(code="b"), Task.objects.get(code="c")
    assert (b.status, c.status) == ("cancelled", "cancelled")
    assert b.error == 'Dependency "a" failed'
    assert AuditEvent.objects.filter(action="dlq.added").count() == 1


def test_it_honours_the_configured_retry_count(make_tasks, worker):
    OperatorSettings.objects.update_or_create(pk=1, defaults={"max_task_retries": 1})
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    assert t.fail(worker) == "failed"


def test_retrying_a_dead_letter_restores_the_dependents(make_tasks, worker):
    make_tasks("a", {"id": "b", "deps": ["a"]}, {"id": "c", "deps": ["b"]}, "other")
    Task.objects.get(code="other").cancel()
    _exhaust("a", worker)
    restored = DeadLetter.objects.get().retry()
    assert sorted(restored) == ["b", "c"]
    assert dict(Task.objects.values_list("code", "status")) == {
        "a": "pending", "b": "pending", "c": "pending", "other": "cancelled"}
    assert DeadLetter.objects.get().status == "retried"
    assert Task.objects.get(code="a").attempts == 0


def test_dismissing_a_dead_letter_keeps_the_task_failed(make_tasks, worker):
    make_tasks("a")
    _exhaust("a", worker)
    letter = DeadLetter.objects.get()
    letter.dismiss("not needed")
    assert (letter.status, letter.dismiss_reason) == ("dismissed", "not needed")
    with pytest.raises(StateConflict):
        letter.retry()


# --- cancel and retry ---------------------------------------------------------------------------


def test_cancel_cascades_to_transitive_dependents(make_tasks):
    a, *_ = make_tasks("a", {"id": "b", "deps": ["a"]}, {"id": "c", "deps": ["b"]}, "d")
    assert a.cancel("not wanted") == ["a", "b", "c"]
    c = Task.objects.get(code="c")
    assert (c.error, c.cancelled_by.code) == ('Dependency "a" was cancelled', "a")
    assert Task.objects.get(code="d").status == "pending"


def test_cancel_of_a_finished_task_is_a_no_op(make_tasks, worker):
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    t.complete(worker)
    assert t.cancel() == []


def test_cancel_refuses_a_running_task(make_tasks, worker):
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    t.start(worker)
    with pytest.raises(StateConflict, match="fail it instead"):
        t.cancel()


def test_cancel_skips_running_dependents(make_tasks):
    a, _ = make_tasks("a", {"id": "b", "deps": ["a"]})
    Task.objects.filter(code="b").update(status="running")
    assert a.cancel() == ["a"]
    assert Task.objects.get(code="b").status == "running"


def test_retry_requeues_a_cancelled_task_and_its_cascade(make_tasks):
    a, *_ = make_tasks("a", {"id": "b", "deps": ["a"]})
    a.cancel()
    a.refresh_from_db()
    assert a.retry() == ["b"]
    assert Task.objects.filter(status="pending").count() == 2


def test_retry_refuses_a_pending_task(make_tasks):
    with pytest.raises(StateConflict):
        make_tasks("a").retry()


def test_edit_merges_metadata_and_refuses_finished_tasks(make_tasks, worker):
    t = make_tasks({"id": "a", "metadata": {"x": 1}})
    t.edit({"priority": 4, "metadata": {"y": 2}})
    t.refresh_from_db()
    assert (t.priority, t.metadata) == (4, {"x": 1, "y": 2})
    Task.objects.filter(pk=t.pk).update(status="complete")
    t.refresh_from_db()
    with pytest.raises(StateConflict):
        t.edit({"priority": 1})


# --- why not running, progress, graph --------------------------------------------------------


def test_it_explains_waiting_on_deps_and_no_coordinator(make_tasks):
    make_tasks("a", "b", {"id": "c", "deps": ["a", "b"]})
    why = Task.objects.get(code="c").why_not_running()
    assert "waiting on deps a, b" in why
    assert "coordinator not running (init)" in why
    assert "no live worker" in why


def test_it_explains_backoff(make_tasks, worker, running):
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    t.fail(worker)
    t.refresh_from_db()
    assert any(r.startswith("backoff until") for r in t.why_not_running())


def test_it_explains_a_ready_task(make_tasks, worker, running):
    assert make_tasks("a").why_not_running() == ["ready, waiting for a worker to claim it"]


def test_progress_counts_statuses():
    from coordination.models import progress

    assert progress()["percent_complete"] == 100
    Task.create_many([{"id": "a"}, {"id": "b"}])
    Task.objects.get(code="a").cancel()
    p = progress()
    assert (p["total"], p["cancelled"], p["pending"], p["percent_complete"]) == (2, 1, 1, 50)


def test_graph_has_edges_and_levels(make_tasks):
    from coordination.models import graph

    make_tasks("a", {"id": "b", "deps": ["a"]})
    g = graph()
    assert g["edges"] == [{"from": "a", "to": "b"}] and g["levels"] == [["a"], ["b"]]


def test_it_explains_rate_limits_and_budget(make_tasks, worker, running):
    from coordination.models import CoordinatorState, RateLimitState

    OperatorSettings.objects.update_or_create(pk=1, defaults={"coord_max_requests_per_minute": 1})
    RateLimitState.acquire(0)
    CoordinatorState.objects.update(global_exceeded=True)
    why = make_tasks("a").why_not_running()
    assert "over budget (global)" in why
    assert any(r.startswith("rate limited (next request in") for r in why)


def test_it_explains_an_assigned_task_of_a_silent_worker(make_tasks, worker, running):
    make_tasks("a")
    t, _ = Task.claim_for(worker)
    with time_machine.travel(timezone.now() + timedelta(seconds=100)):
        assert t.why_not_running() == ["assigned to w1, waiting for it to start (w1 is not live)"]
