"""Webhook delivery through a real Celery worker on Redis: nothing is lost while it is down."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook as StandardWebhook

from observability.events import emit
from settings_ui.models import Webhook, WebhookDelivery
from settings_ui.tasks import deliver_due_webhooks
from settings_ui.webhook_protocol import generate_secret
from tests.fixtures.celery_worker import purge_broker, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(monkeypatch):
    # The worker process reads settings from its environment: allow the 127.0.0.1 receiver.
    monkeypatch.setenv("OPERATOR_WEBHOOK_ALLOW_PRIVATE", "1")


def _events(receiver):
    return sorted(json.loads(r.body)["data"]["target"]["id"] for r in receiver.requests)


def test_an_event_is_delivered_end_to_end(worker_env, receiver, celery_worker_process):
    secret = generate_secret()
    Webhook.create_from({"url": receiver.url, "events": ["chain.*"], "secret": secret})
    celery_worker_process()
    with transaction.atomic():
        emit("chain.failed", target=("chain", "c1"), data={"error": "boom"})
    wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").exists(), timeout=60)
    req = receiver.requests[0]
    assert StandardWebhook(secret).verify(req.body, req.headers)["data"]["error"] == "boom"


def test_deliveries_made_while_the_worker_is_down_arrive_after_it_starts(
    worker_env, receiver, celery_worker_process
):
    Webhook.create_from({"url": receiver.url, "events": ["chain.*"]})
    for i in range(3):
        emit("chain.failed", target=("chain", f"lost{i}"))
    purge_broker()  # these three messages are lost (broker outage): only the rows remain
    for i in range(2):
        emit("chain.failed", target=("chain", f"queued{i}"))
    assert receiver.requests == []
    celery_worker_process()
    deliver_due_webhooks.delay()  # what beat does every 10 s
    wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 5, timeout=90)
    assert _events(receiver) == ["lost0", "lost1", "lost2", "queued0", "queued1"]
