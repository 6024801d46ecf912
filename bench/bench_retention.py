"""Retention sweep of expired audit events: rows/s and the longest batch (one transaction).

Default 100,000 events (< 2 min here); BENCH_FULL=1 runs the issue's 1,000,000.
"""

from __future__ import annotations

import datetime as dt
import os
import time


def run():
    from django.utils import timezone

    from observability.models import AuditEvent
    from settings_ui.models import RetentionPolicy
    from settings_ui.retention import Sweeper

    n = 1_000_000 if os.environ.get("BENCH_FULL") else 100_000
    print(f"   size: {n:,} audit events ({'BENCH_FULL' if os.environ.get('BENCH_FULL') else 'default'})", flush=True)
    AuditEvent.objects.all().delete()
    old = timezone.now() - dt.timedelta(days=400)
    batch = []
    for i in range(n):
        batch.append(AuditEvent(ts=old - dt.timedelta(seconds=i), action="chain.updated",
                                actor="bench", target_type="chain", target_id=str(i), data={"i": i}))
        if len(batch) == 10_000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    policy = RetentionPolicy(kind="audit_events", enabled=True, ttl_days=30)
    sweeper = Sweeper(budget_seconds=3600)
    started = time.perf_counter()
    counts = sweeper.run([policy], now=timezone.now())
    seconds = time.perf_counter() - started
    assert counts["audit_events"] == n and not AuditEvent.objects.exists()
    return [
        ("rows deleted", n, "rows", ""),
        ("sweep rate", n / seconds, "rows/s", f"{seconds:.1f} s total"),
        ("longest batch", sweeper.longest_batch * 1000, "ms", "2,000 rows per transaction"),
    ]
