"""The delivery engine against a real local receiver: outbox, signing, retries, disabling."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from observability.events import emit
from observability.models import AuditEvent
from settings_ui.models import Webhook, WebhookDelivery
from settings_ui.tasks import deliver_due_webhooks
from settings_ui.webhook_protocol import SCHEDULE, generate_secret

pytestmark = pytest.mark.django_db


def make_hook(url, **kw):
    values = {"url": url, "events": ["*"], "format": "generic", "label": "t", "active": True}
    values.update(kw)
    return Webhook.create_from(values)


def deliver_all() -> int:
    return sum(WebhookDelivery.deliver_one(pk) for pk in WebhookDelivery.due_ids())


def test_it_writes_one_pending_delivery_per_matching_active_webhook(receiver):
    a = make_hook(receiver.url, events=["chain.*"])
    make_hook(receiver.url, events=["task.*"])
    make_hook(receiver.url, events=["*"], active=False)
    WebhookDelivery.objects.all().delete()  # the webhook.created events of the setup
    emit("chain.failed", target=("chain", "c1"), data={"error": "boom"})
    d = WebhookDelivery.objects.get()
    assert d.webhook == a and d.status == "pending" and d.event == "chain.failed"
    assert d.payload["data"] == {"actor": "system", "target": {"type": "chain", "id": "c1"},
                                 "error": "boom"}


def test_the_outbox_rolls_back_with_the_event(receiver):
    make_hook(receiver.url)
    WebhookDelivery.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("chain.failed", target=("chain", "c1"))
        raise RuntimeError
    assert not WebhookDelivery.objects.exists()


def test_it_never_creates_deliveries_for_delivery_outcomes(receiver):
    make_hook(receiver.url)
    WebhookDelivery.objects.all().delete()
    for name in ["webhook.delivered", "webhook.failed"]:
        emit(name, target=("webhook", "x"))
    assert not WebhookDelivery.objects.exists()


def test_a_delivery_is_signed_and_verifies_with_standardwebhooks(receiver):
    secret = generate_secret()
    hook = make_hook(receiver.url, secret=secret)
    WebhookDelivery.objects.all().delete()
    emit("chain.failed", target=("chain", "c1"))
    assert deliver_all() == 1
    req = receiver.requests[0]
    assert StandardWebhook(secret).verify(req.body, req.headers)["event"] == "chain.failed"
    assert req.headers["user-agent"].startswith("Operator-Webhooks/")
    assert req.headers["x-operator-event"] == "chain.failed"
    assert req.headers["content-type"] == "application/json"
    d = WebhookDelivery.objects.get()
    assert d.status == "succeeded" and d.attempt == 1 and d.response_status == 200
    assert d.response_body == "ok" and d.latency_ms is not None
    hook.refresh_from_db()
    assert hook.last_delivery_status == "succeeded" and hook.consecutive_failures == 0


def test_an_unsigned_delivery_has_no_signature_header(receiver):
    make_hook(receiver.url)
    assert deliver_all() == 1  # its own webhook.created
    assert "webhook-signature" not in receiver.requests[0].headers
    assert json.loads(receiver.requests[0].body)["event"] == "webhook.created"


def test_a_claim_is_taken_once(receiver):
    make_hook(receiver.url)
    d = WebhookDelivery.objects.get()
    assert WebhookDelivery.claim(d.pk) is True
    assert WebhookDelivery.claim(d.pk) is False
    assert WebhookDelivery.deliver_one(d.pk) is False
    assert receiver.requests == []


def test_it_retries_on_the_schedule_with_the_same_webhook_id(receiver):
    receiver.default = (500, {}, b"down")
    make_hook(receiver.url)
    d = WebhookDelivery.objects.get()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert deliver_all() == 1
        for attempt in range(1, len(SCHEDULE)):
            d.refresh_from_db()
            assert d.status == "pending" and d.attempt == attempt
            delay = (d.next_attempt_at - timezone.now()).total_seconds()
            assert SCHEDULE[attempt] * 0.8 <= delay <= SCHEDULE[attempt] * 1.2
            clock.shift(timedelta(seconds=delay * 0.5))
            assert deliver_all() == 0  # not due yet
            clock.shift(timedelta(seconds=delay * 0.5 + 1))
            assert deliver_all() == 1
    d.refresh_from_db()
    assert d.status == "failed" and d.attempt == len(SCHEDULE) and d.error == "HTTP 500"
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == len(SCHEDULE)
    assert Webhook.objects.get().consecutive_failures == len(SCHEDULE)


@pytest.mark.parametrize("status", [429, 503])
def test_it_honours_retry_after_within_bounds(receiver, status):
    receiver.respond(status, {"Retry-After": "8"})
    receiver.respond(status, {"Retry-After": "86400"})
    make_hook(receiver.url)
    d = WebhookDelivery.objects.get()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        deliver_all()
        d.refresh_from_db()
        assert (d.next_attempt_at - timezone.now()).total_seconds() == 8
        clock.shift(timedelta(seconds=8))
        deliver_all()
        d.refresh_from_db()
        assert (d.next_attempt_at - timezone.now()).total_seconds() == 60  # 2 × 30 s
        clock.shift(timedelta(seconds=60))
        deliver_all()
    d.refresh_from_db()
    assert d.status == "succeeded" and d.attempt == 3


def test_a_410_disables_the_webhook_with_a_reason(receiver):
    receiver.respond(410)
    hook = make_hook(receiver.url)
    deliver_all()
    hook.refresh_from_db()
    assert hook.active is False and "HTTP 410" in hook.disabled_reason
    assert WebhookDelivery.objects.get(event="webhook.created").status == "failed"
    ev = AuditEvent.objects.get(action="webhook.disabled")
    assert ev.target_id == str(hook.code) and "410" in ev.data["reason"]
    # re-enable with one click: reason cleared, emitted as an update
    hook.enable()
    hook.refresh_from_db()
    assert hook.active and hook.disabled_reason == "" and hook.consecutive_failures == 0


@pytest.mark.parametrize("fmt,disabled", [("slack", True), ("discord", True), ("generic", False)])
def test_a_404_disables_slack_and_discord_only(receiver, fmt, disabled):
    receiver.default = (404, {}, b"no_service")
    hook = make_hook(receiver.url, format=fmt)
    deliver_all()
    hook.refresh_from_db()
    assert hook.active is (not disabled)


def test_deliveries_of_a_disabled_webhook_wait_until_it_is_enabled(receiver):
    hook = make_hook(receiver.url)
    hook.disable()
    assert deliver_all() == 0
    hook.enable()
    assert deliver_all() == 2  # the webhook.created delivery waited; then its re-enabling
    assert [json.loads(r.body)["event"] for r in receiver.requests] == [
        "webhook.created", "webhook.updated"]


def test_a_redirect_is_a_failure_and_not_followed(receiver):
    receiver.respond(301, {"Location": receiver.url + "/moved"})
    make_hook(receiver.url)
    deliver_all()
    d = WebhookDelivery.objects.get()
    assert d.status == "pending" and "redirect" in d.error
    assert len(receiver.requests) == 1


def test_a_timeout_is_a_failure_that_will_be_retried(receiver, monkeypatch):
    from operator_site.lib import http

    monkeypatch.setattr(http, "DEFAULT_TIMEOUT", 0.2)
    receiver.delay = 1.0
    make_hook(receiver.url)
    deliver_all()
    d = WebhookDelivery.objects.get()
    assert d.status == "pending" and "Timed out" in d.error and d.response_status is None


def test_a_private_url_without_the_flag_fails_without_a_request(receiver, settings):
    make_hook(receiver.url)
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = False
    deliver_all()
    d = WebhookDelivery.objects.get()
    assert d.status == "failed" and "not a public address" in d.error
    assert receiver.requests == []


def test_the_sweep_releases_stale_claims_and_finds_due_rows(receiver, monkeypatch):
    make_hook(receiver.url)
    d = WebhookDelivery.objects.get()
    WebhookDelivery.claim(d.pk)  # a worker took it and died
    sent = []
    monkeypatch.setattr("settings_ui.tasks.deliver_webhook.delay", sent.append)
    assert deliver_due_webhooks() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert deliver_due_webhooks() == 1
    assert sent == [d.pk]


def test_redeliver_sends_the_same_message_again(receiver):
    make_hook(receiver.url)
    deliver_all()
    first = WebhookDelivery.objects.get()
    copy = first.redeliver()
    assert copy.message_id == first.message_id and copy.status == "pending"
    deliver_all()
    assert [r.headers["webhook-id"] for r in receiver.requests] == [first.message_id] * 2


def test_a_test_delivery_is_one_synchronous_attempt_even_when_inactive(receiver):
    receiver.default = (500, {}, b"nope")
    hook = make_hook(receiver.url, active=False)
    d = hook.send_test()
    assert d.status == "failed" and d.attempt == 1 and d.is_test and d.response_status == 500
    assert len(receiver.requests) == 1
    assert json.loads(receiver.requests[0].body)["event"] == "webhook.test"


def test_the_wiring_delivers_after_commit(receiver, settings, django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from operator_site.celery import app

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            make_hook(receiver.url)
    finally:
        app.conf.task_always_eager = False
    assert WebhookDelivery.objects.get().status == "succeeded"
    assert len(receiver.requests) == 1


def test_a_queued_delivery_of_a_since_disabled_webhook_is_put_back(receiver):
    hook = make_hook(receiver.url)
    d = WebhookDelivery.objects.get()
    hook.disable()
    assert WebhookDelivery.deliver_one(d.pk) is False  # the task message arrives anyway
    d.refresh_from_db()
    assert d.status == "pending" and d.claimed_at is None and receiver.requests == []
