"""The coordinator's periodic tick: one pass over the subsystems, each a model method."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from settings_ui.models import OperatorSettings

from .models import CoordinatorState, RateLimitState, Worker


def tick(now: datetime | None = None) -> dict:
    """Recover stale workers' tasks, step the adaptive limiter, re-check budgets (settings may
    have changed), and finish a drain. Returns what it did (for tests and logs)."""
    now = now or timezone.now()
    released = Worker.recover_stale(now)
    rate = RateLimitState.tick(now)
    settings = OperatorSettings.load()
    with transaction.atomic():
        state = CoordinatorState.objects.select_for_update().get(pk=CoordinatorState.load().pk)
        budgets = CoordinatorState.check_budgets(settings, state=state)
        state.last_tick_at = now
        state.save(update_fields=("last_tick_at",))
    state.refresh_from_db()
    stopped = state.finish_drain()
    return {"released": released, "rate": rate, "budgets": budgets, "stopped": stopped,
            "status": state.status}
