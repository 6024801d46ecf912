"""Task claims per second with 4 concurrent workers (PostgreSQL when DATABASE_URL points at it)."""

from __future__ import annotations

import os
import threading
import time


def _reset():
    from coordination.models import CoordinatorState, Task, Worker
    from observability.models import AuditEvent

    Task.objects.all().delete()
    Worker.objects.all().delete()
    AuditEvent.objects.filter(action__startswith="task.").delete()
    CoordinatorState.load().start()


def run():
    from django.db import connection

    from coordination.models import Task, Worker

    full = os.environ.get("BENCH_FULL") == "1"
    n_tasks, n_workers = (5000 if full else 1000), 4
    print(f"   size: {n_tasks} tasks, {n_workers} workers ({connection.vendor}"
          f"{', BENCH_FULL' if full else ''})", flush=True)
    _reset()
    workers = [Worker.register(f"bench-w{i}")[0] for i in range(n_workers)]
    Task.create_many([{"id": f"bench-{i:05d}", "priority": i % 7} for i in range(n_tasks)])
    counts = [0] * n_workers
    barrier = threading.Barrier(n_workers + 1)

    def claim(i):
        try:
            barrier.wait()
            while Task.claim_for(workers[i])[0] is not None:
                counts[i] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(n_workers)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    total = sum(counts)
    distinct = Task.objects.filter(status="assigned").count()
    _reset()
    Task.objects.all().delete()
    return [
        ("claims/s, 4 concurrent workers", total / elapsed, "claims/s",
         f"{total} claims, {distinct} distinct tasks assigned (must be equal)"),
        ("per-claim latency", elapsed / total * 1000 * n_workers, "ms", "per worker, mean"),
    ]
