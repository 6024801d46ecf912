"""emit() overhead: a state change with its audit event against the bare change."""

from __future__ import annotations

import time

from django.db import transaction


def _per_second(fn, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


def run():
    from django.utils import timezone

    from observability.events import emit
    from observability.models import ProcessHeartbeat

    n = 2000
    ProcessHeartbeat.objects.filter(name__startswith="bench-").delete()

    def bare(i):
        with transaction.atomic():
            ProcessHeartbeat.objects.update_or_create(
                name=f"bench-{i % 50}", defaults={"seen_at": timezone.now()}
            )

    def audited(i):
        with transaction.atomic():
            ProcessHeartbeat.objects.update_or_create(
                name=f"bench-{i % 50}", defaults={"seen_at": timezone.now()}
            )
            emit("bench.changed", actor="bench", target=("bench", str(i)), data={"i": i})

    bare(0)
    base = _per_second(bare, n)
    with_event = _per_second(audited, n)
    ProcessHeartbeat.objects.filter(name__startswith="bench-").delete()
    from observability.models import AuditEvent

    AuditEvent.objects.filter(action="bench.changed").delete()
    return [
        ("changes/s without emit()", base, "ops/s", ""),
        ("changes/s with emit()", with_event, "ops/s", f"{with_event / base:.2f}× of bare"),
    ]
