"""Hypothesis properties: the DAG never holds a cycle, claims only hand out tasks whose deps
are complete, every claim is exclusive."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordination import dag
from coordination.models import CoordinatorState, Invalid, StateConflict, Task, Worker

IDS = [f"t{i}" for i in range(8)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS)), max_size=40))
def test_property_pure_edge_sequences_never_leave_a_cycle(edges):
    graph: dict[str, list[str]] = {i: [] for i in IDS}
    for task, dep in edges:
        if dep in graph[task]:
            continue
        cycle = dag.cycle_if_added(graph, task, dep)
        if cycle:
            assert cycle[0] == cycle[-1] == task and cycle[1] == dep
            continue
        graph[task].append(dep)
        assert dag.find_cycle(graph) is None
    flat = [n for level in dag.levels(graph) for n in level]
    assert sorted(flat) == sorted(IDS)
    pos = {n: i for i, level in enumerate(dag.levels(graph)) for n in level}
    assert all(pos[d] < pos[t] for t, ds in graph.items() for d in ds)


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.mark.django_db
@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(IDS[:6]), st.sampled_from(IDS[:6])), max_size=25))
def test_property_api_edge_sequences_never_leave_a_cycle(edges):
    Task.objects.all().delete()
    Task.create_many([{"id": i} for i in IDS[:6]])
    tasks = {t.code: t for t in Task.objects.all()}
    for task, dep in edges:
        try:
            tasks[task].add_dep(tasks[dep])
        except (Invalid, StateConflict):
            pass
    assert dag.find_cycle(Task.dependency_graph()) is None


@pytest.mark.django_db
@SETTINGS
@given(
    deps=st.lists(st.lists(st.integers(0, 6), max_size=3), min_size=7, max_size=7),
    outcomes=st.lists(st.sampled_from(["complete", "fail", "cancel"]), max_size=20),
)
def test_property_a_claimed_tasks_deps_are_complete(deps, outcomes):
    Task.objects.all().delete()
    Worker.objects.all().delete()
    CoordinatorState.load().start()
    w = Worker.register("w")[0]
    # Only edges to lower indexes: always a DAG.
    Task.create_many([{"id": f"n{i}", "deps": sorted({f"n{d}" for d in ds if d < i})}
                      for i, ds in enumerate(deps)])
    seen = set()
    for outcome in outcomes:
        task, _ = Task.claim_for(w)
        if task is None:
            break
        assert task.code not in seen  # a completed task is never handed out again
        assert all(s == "complete" for s in task.deps.values_list("status", flat=True))
        if outcome == "complete":
            task.complete(w)
            seen.add(task.code)
        elif outcome == "fail":
            task.fail(w, "x")
            Task.objects.filter(pk=task.pk).update(not_before=None)
        else:
            task.cancel()
    assert Task.objects.filter(status="complete").count() == len(seen)
