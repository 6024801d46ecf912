"""Retention sweeps: delete old rows per kind, in batches, within a time budget.

Kinds name models of other apps through the app registry (never by import); a kind whose model
does not exist yet is "not available" and counts 0. Only rows matching a kind's `deletable`
filter are ever touched: finished tasks, archived chains, settled deliveries.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

BATCH = 2000
BUDGET_SECONDS = 60.0


@dataclass(frozen=True)
class Kind:
    label: str
    model: str  # "app_label.ModelName"
    time_field: str
    deletable: dict = field(default_factory=dict)
    default_enabled: bool = True
    default_ttl_days: int | None = 30
    default_max_count: int | None = None
    has_max_count: bool = False

    def defaults(self) -> dict:
        return {"enabled": self.default_enabled, "ttl_days": self.default_ttl_days,
                "max_count": self.default_max_count}

    def get_model(self):
        """The model, or None while its app does not define it."""
        try:
            return apps.get_model(self.model)
        except LookupError:
            return None


KINDS: dict[str, Kind] = {
    "terminal_messages": Kind("Terminal messages", "coordination.TerminalMessage", "created_at"),
    "snapshots": Kind("Snapshots", "coordination.Snapshot", "updated_at"),
    "completed_tasks": Kind(
        "Completed tasks", "coordination.Task", "finished_at",
        {"status__in": ("complete", "failed", "cancelled")},
        default_max_count=1000, has_max_count=True,
    ),
    "audit_events": Kind("Audit events", "observability.AuditEvent", "ts", default_ttl_days=365),
    "webhook_deliveries": Kind(
        "Webhook deliveries", "settings_ui.WebhookDelivery", "created_at",
        {"status__in": ("succeeded", "failed")},
    ),
    "archived_chains": Kind(
        "Archived chains", "chains.Chain", "updated_at", {"status": "archived"},
        default_enabled=False, default_ttl_days=90,
    ),
    "latency_buckets": Kind("Route-latency buckets", "observability.RouteLatencyBucket",
                            "bucket_start"),
}


def _base(kind: Kind, model):
    qs = model._base_manager.filter(**kind.deletable)
    return qs.filter(**{f"{kind.time_field}__isnull": False})


def _querysets(kind: Kind, model, policy, now: dt.datetime) -> list:
    """The querysets whose rows may go: past the TTL, and (tasks) beyond the newest max_count."""
    out = []
    base = _base(kind, model)
    if policy.ttl_days:
        cutoff = now - dt.timedelta(days=policy.ttl_days)
        out.append(("ttl", base.filter(**{f"{kind.time_field}__lt": cutoff})))
    if kind.has_max_count and policy.max_count:
        out.append(("max_count", base))
    return out


def _count(kind: Kind, model, policy, now) -> int:
    total = 0
    remaining = _base(kind, model).count()
    for reason, qs in _querysets(kind, model, policy, now):
        if reason == "ttl":
            n = qs.count()
            total += n
            remaining -= n
        else:
            total += max(0, remaining - policy.max_count)
    return total


class Sweeper:
    """One sweep over every enabled policy; counts per kind, longest batch, budget."""

    def __init__(self, *, budget_seconds: float = BUDGET_SECONDS, batch: int = BATCH, clock=time.monotonic):
        self.budget, self.batch, self.clock = budget_seconds, batch, clock
        self.longest_batch = 0.0
        self.out_of_time = False

    def run(self, policies, *, now: dt.datetime, dry_run: bool = False) -> dict:
        started = self.clock()
        counts: dict[str, int | None] = {}
        for policy in policies:
            kind = KINDS.get(policy.kind)
            model = kind.get_model() if kind else None
            if model is None:
                counts[policy.kind] = None  # not available: the model does not exist yet
                continue
            if not policy.enabled:
                counts[policy.kind] = 0
                continue
            if dry_run:
                counts[policy.kind] = _count(kind, model, policy, now)
                continue
            counts[policy.kind] = self._delete(kind, model, policy, now, started)
        return counts

    def _delete(self, kind, model, policy, now, started) -> int:
        deleted = 0
        for reason, qs in _querysets(kind, model, policy, now):
            while not self.out_of_time:
                if self.clock() - started > self.budget:
                    self.out_of_time = True
                    break
                t0 = self.clock()
                with transaction.atomic():
                    if reason == "ttl":
                        pick = qs.order_by(kind.time_field).values_list("pk", flat=True)
                        if connection.vendor == "postgresql":
                            # Rows another sweep (or a writer) holds are left for the next batch.
                            pick = pick.select_for_update(skip_locked=True)
                        ids = list(pick[: self.batch])
                    else:
                        ids = list(qs.order_by(f"-{kind.time_field}", "-pk")
                                   .values_list("pk", flat=True)[policy.max_count:policy.max_count + self.batch])
                    if not ids:
                        break
                    _, per_model = model._base_manager.filter(pk__in=ids).delete()
                n = per_model.get(model._meta.label, 0)
                deleted += n
                self.longest_batch = max(self.longest_batch, self.clock() - t0)
                if len(ids) < self.batch:
                    break
        return deleted


def sweep(*, dry_run: bool = False, trigger: str = "manual", actor=None,
          now: dt.datetime | None = None, budget_seconds: float = BUDGET_SECONDS,
          batch: int = BATCH):
    """Run a sweep (or dry run) over the stored policies; returns the SweepRun row."""
    from observability.events import emit

    from .models import RetentionPolicy, SweepRun

    run = SweepRun.objects.create(dry_run=dry_run, trigger=trigger)
    t0 = time.monotonic()
    sweeper = Sweeper(budget_seconds=budget_seconds, batch=batch)
    try:
        counts = sweeper.run(RetentionPolicy.load_all(), now=now or timezone.now(), dry_run=dry_run)
    except Exception as e:
        logger.exception("retention sweep failed")
        run.status, run.error = "failed", f"{type(e).__name__}: {e}"
        counts = {}
    else:
        run.status = "partial" if sweeper.out_of_time else "ok"
        if sweeper.out_of_time:
            run.error = "Time budget used up; the next sweep continues."
    run.counts = counts
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - t0) * 1000)
    run.longest_batch_ms = int(sweeper.longest_batch * 1000)
    with transaction.atomic():
        run.save()
        if not dry_run and run.status != "failed":
            emit("retention.swept", actor=actor, target=("sweeprun", str(run.pk)),
                 data={"counts": counts, "status": run.status, "duration_ms": run.duration_ms})
    return run
