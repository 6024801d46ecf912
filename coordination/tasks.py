from __future__ import annotations

from celery import shared_task

from . import coordinator


@shared_task
def tick() -> None:
    """Beat runs this every 10 s: stale workers, adaptive recovery, budgets, drain → stop."""
    coordinator.tick()
