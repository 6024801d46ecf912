"""Concurrent claimers never get the same task (SKIP LOCKED on PostgreSQL, conditional
UPDATE elsewhere)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from coordination.models import CoordinatorState, Task, Worker


def _claim_all(n_threads: int, n_tasks: int) -> Counter:
    CoordinatorState.load().start()
    workers = [Worker.register(f"w{i}")[0] for i in range(n_threads)]
    Task.create_many([{"id": f"t{i:04d}"} for i in range(n_tasks)])
    claimed: list[list[str]] = [[] for _ in range(n_threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def run(i: int) -> None:
        try:
            start.wait()
            while True:
                task, _ = Task.claim_for(workers[i])
                if task is None:
                    break
                claimed[i].append(task.code)
        except BaseException as e:  # surfaced in the main thread
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return Counter(code for codes in claimed for code in codes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_threads_claim_a_thousand_tasks_each_exactly_once():
    counts = _claim_all(8, 1000)
    assert len(counts) == 1000 and set(counts.values()) == {1}
    assert Task.objects.filter(status="assigned").count() == 1000


@pytest.mark.django_db(transaction=True)
def test_four_threads_claim_each_task_exactly_once():
    counts = _claim_all(4, 120)
    assert len(counts) == 120 and set(counts.values()) == {1}
