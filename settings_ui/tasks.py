"""Celery tasks of settings_ui: thin wrappers that take ids and call model methods."""

from __future__ import annotations

from celery import shared_task

from .models import WebhookDelivery


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
