"""Celery tasks of settings_ui: thin wrappers that take ids and call model methods."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db import IntegrityError
from django.utils import timezone

from .models import Backup, OperatorSettings, WebhookDelivery
from .schedule import current_slot, next_slot, slot_key

logger = logging.getLogger(__name__)


@shared_task
def run_backup(backup_id: int) -> None:
    """Write the file of a pending Backup row (a second delivery finds it claimed and stops)."""
    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is None or not backup.claim():
        return
    backup.write(actor=backup.created_by)
    if backup.kind == "auto" and backup.status == "ok":
        Backup.prune(OperatorSettings.load().backup_keep, kind="auto")


def auto_backup_tick(now: dt.datetime | None = None) -> Backup | None:
    """Start the automatic backup of the current slot unless it exists; returns it if started."""
    s = OperatorSettings.load()
    slot = current_slot(s.backup_schedule, s.backup_daily_hour, now or timezone.now())
    if slot is None:
        return None
    key = slot_key(slot)
    if Backup.objects.filter(slot=key).exists():
        return None
    try:
        return Backup.start(kind="auto", slot=key)
    except IntegrityError:  # another beat tick took this slot first
        return None


def requeue_lost_backups(now: dt.datetime | None = None) -> int:
    """Pending rows older than a minute lost their Celery message: send it again."""
    cutoff = (now or timezone.now()) - dt.timedelta(minutes=1)
    ids = list(Backup.objects.filter(status="pending", created_at__lt=cutoff).values_list("pk", flat=True))
    for pk in ids:
        run_backup.delay(pk)
    return len(ids)


def auto_backup_status(now: dt.datetime | None = None) -> dict:
    s = OperatorSettings.load()
    now = now or timezone.now()
    last = Backup.objects.filter(kind="auto").order_by("-created_at").first()
    slot = current_slot(s.backup_schedule, s.backup_daily_hour, now)
    if slot is None:
        upcoming = None
    elif not Backup.objects.filter(slot=slot_key(slot)).exists():
        upcoming = now  # due now: the next beat tick starts it
    else:
        upcoming = next_slot(s.backup_schedule, s.backup_daily_hour, now)
    return {
        "schedule": s.backup_schedule, "daily_hour": s.backup_daily_hour, "keep": s.backup_keep,
        "last_run": last.created_at if last else None,
        "last_status": last.status if last else None,
        "next_run": upcoming,
        "last_error": last.error if last and last.status == "failed" else "",
    }


@shared_task
def backup_beat() -> None:
    """Every few minutes: start a due automatic backup, re-send lost backup runs."""
    auto_backup_tick()
    requeue_lost_backups()


@shared_task
def retention_beat() -> None:
    """Hourly: sweep by the stored retention policies."""
    from .retention import sweep

    sweep(trigger="beat")


@shared_task
def deliver_webhook(delivery_id: int) -> bool:
    """One attempt of one delivery (no-op if another worker claimed it or it is not due)."""
    return WebhookDelivery.deliver_one(delivery_id)


@shared_task
def deliver_due_webhooks(limit: int = 500) -> int:
    """Beat (every 10 s): release claims of dead workers and enqueue every due delivery, so a
    lost message, a dead worker or a broker outage only delays delivery. Returns how many."""
    WebhookDelivery.release_stale_claims()
    ids = WebhookDelivery.due_ids(limit)
    for pk in ids:
        deliver_webhook.delay(pk)
    return len(ids)
