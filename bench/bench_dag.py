"""Ready-set and cycle check on a 10,000-task DAG: pure algorithms and the database query."""

from __future__ import annotations

import random
import time


def _graph(n: int, seed: int = 4) -> dict[str, list[str]]:
    rng = random.Random(seed)
    g = {}
    for i in range(n):
        k = min(i, rng.randint(0, 3))
        g[f"t{i:05d}"] = [f"t{j:05d}" for j in rng.sample(range(max(0, i - 200), i), k)] if i else []
    return g


def _time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def run():
    from django.utils import timezone

    from coordination import dag
    from coordination.models import Task

    n = 10_000
    print(f"   size: {n} tasks, up to 3 deps each", flush=True)
    g = _graph(n)
    status = {t: ("complete" if i < n // 2 else "pending") for i, t in enumerate(g)}
    tasks = {t: (status[t], i % 5, float(i), None) for i, t in enumerate(g)}
    ready_ms = _time(lambda: dag.ready_ids(tasks, g, now=1e12))
    cycle_ms = _time(lambda: dag.find_cycle(g))
    add_ms = _time(lambda: dag.cycle_if_added(g, "t00000", f"t{n - 1:05d}"))
    levels_ms = _time(lambda: dag.levels(g))

    Task.objects.all().delete()
    Task.create_many([{"id": t, "deps": ds, "priority": i % 5} for i, (t, ds) in enumerate(g.items())])
    Task.objects.filter(code__in=[t for t, s in status.items() if s == "complete"]).update(
        status="complete")
    now = timezone.now()
    db_ready_ms = _time(lambda: list(Task.objects.ready(now).values_list("code", flat=True)[:50]))
    db_count = Task.objects.ready(now).count()
    first, last = Task.objects.get(code="t00000"), Task.objects.get(code=f"t{n - 1:05d}")
    db_edge_ms = _time(lambda: dag.cycle_if_added(Task.dependency_graph(), first.code, last.code))
    Task.objects.all().delete()
    return [
        ("pure ready set", ready_ms, "ms", f"{sum(1 for _ in dag.ready_ids(tasks, g, 1e12))} ready"),
        ("pure full cycle check", cycle_ms, "ms", "iterative DFS over all nodes"),
        ("pure edge-add cycle check", add_ms, "ms", "t00000 → t09999 closes a cycle"),
        ("pure levels (Kahn)", levels_ms, "ms", f"{len(dag.levels(g))} levels"),
        ("DB ready query (top 50)", db_ready_ms, "ms", f"{db_count} ready in the table"),
        ("DB edge-add cycle check", db_edge_ms, "ms", "load graph + DFS"),
    ]
