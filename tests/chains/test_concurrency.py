"""PostgreSQL: concurrent bulk-archive and session-record calls leave consistent rows.

Each thread uses its own database connection (Django connections are per thread) and closes
it at the end; the threads start together on a barrier so their transactions overlap.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from chains.models import Chain
from observability.models import AuditEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_threads(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # surfaced by the assert below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_concurrent_session_reports_never_lose_an_increment():
    chain = Chain.objects.create(task="busy")
    per_thread = 5

    def report(i: int):
        c = Chain.objects.get(pk=chain.pk)
        for _ in range(per_thread):
            c.record_session(turns=1, cost_usd=Decimal("0.10"), input_tokens=10,
                             error="x" if i % 2 else "")

    _in_threads(6, report)
    chain.refresh_from_db()
    total = 6 * per_thread
    assert chain.session_count == total and chain.turns == total
    assert chain.cost_usd == Decimal("0.10") * total and chain.input_tokens == 10 * total
    assert sorted(chain.sessions.values_list("index", flat=True)) == list(range(total))
    assert AuditEvent.objects.filter(action="session.recorded").count() == total


def test_two_overlapping_bulk_archives_archive_each_chain_once():
    chains = [Chain.objects.create(task=f"c{i}", status="complete") for i in range(20)]
    running = Chain.objects.create(task="live")
    bystander = Chain.objects.create(task="untouched", status="failed")
    ids = [c.id for c in chains]
    batches = [ids[:15] + [running.id], ids[5:] + [running.id]]

    out = _in_threads(2, lambda i: Chain.objects.bulk_archive(batches[i]))
    assert all(r["failed"] == 1 for r in out)
    assert Chain.objects.filter(pk__in=ids, status="archived").count() == 20
    assert Chain.objects.get(pk=running.pk).status == "running"
    assert Chain.objects.get(pk=bystander.pk).status == "failed"
    events = list(AuditEvent.objects.filter(action="chain.archived").values_list(
        "target_id", flat=True))
    assert sorted(events) == sorted(str(i) for i in ids)
    # One call, one timestamp.
    for batch in batches:
        stamps = set(Chain.objects.filter(pk__in=batch[:-1]).values_list("updated_at", flat=True))
        assert len(stamps) <= 2


def test_a_session_report_racing_an_abort_is_either_recorded_or_refused():
    chain = Chain.objects.create(task="race")

    def act(i: int):
        c = Chain.objects.get(pk=chain.pk)
        return c.abort() if i == 0 else c.record_session(turns=1, cost_usd=1)

    _in_threads(2, act)
    chain.refresh_from_db()
    assert chain.status == "aborted"
    assert chain.session_count == chain.sessions.count() <= 1


def test_q_search_uses_the_trigram_indexes():
    Chain.objects.bulk_create(Chain(task=f"task number {i}") for i in range(2000))
    with connection.cursor() as cur:
        cur.execute("ANALYZE chains_chain")
        cur.execute("SET enable_seqscan = off")
        try:
            # Without the ORDER BY: on a small table the planner may rather walk the
            # updated_at index; what matters here is that the trigram indexes are usable.
            plan = Chain.objects.search("number 1999").order_by().explain()
            assert "chain_task_trgm" in plan
            plan = Chain.objects.search("abcd12").order_by().explain()
            assert "chain_task_trgm" in plan and "chain_id_trgm" in plan
        finally:
            cur.execute("RESET enable_seqscan")
