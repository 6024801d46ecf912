from __future__ import annotations

import pytest
from django.db import transaction

from observability import events
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings

pytestmark = pytest.mark.django_db


def test_it_records_an_audit_event():
    e = events.emit("chain.created", actor="cli", target=("chain", "abc"), data={"task": "x"})
    row = AuditEvent.objects.get(pk=e.pk)
    assert (row.action, row.actor, row.target_type, row.target_id) == (
        "chain.created", "cli", "chain", "abc",
    )
    assert row.data == {"task": "x"}


def test_it_names_a_model_target_by_type_and_public_id(alice):
    settings_row = OperatorSettings.load()
    e = events.emit("settings.changed", target=settings_row)
    assert (e.target_type, e.target_id) == ("operatorsettings", "1")


def test_it_rolls_back_with_the_change():
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit("chain.created", target=("chain", "1"))
        raise RuntimeError("change failed")
    assert AuditEvent.objects.count() == 0


def test_it_calls_subscribers_inside_the_transaction():
    seen = []

    def subscriber(event):
        seen.append((event.action, transaction.get_connection().in_atomic_block))

    events.subscribe(subscriber)
    try:
        with transaction.atomic():
            events.emit("task.created", target=("task", "t1"))
    finally:
        events.unsubscribe(subscriber)
    assert seen == [("task.created", True)]


def test_a_failing_subscriber_aborts_the_change():
    def broken(event):
        raise ValueError("outbox full")

    events.subscribe(broken)
    try:
        with pytest.raises(ValueError), transaction.atomic():
            events.emit("task.created", target=("task", "t1"))
    finally:
        events.unsubscribe(broken)
    assert AuditEvent.objects.count() == 0


def test_it_takes_actor_and_request_id_from_the_request(api):
    r = api.patch("/api/settings/", {"max_turns": 42}, HTTP_X_REQUEST_ID="req-123")
    assert r.status_code == 200
    assert r["X-Request-Id"] == "req-123"
    e = AuditEvent.objects.get(action="settings.changed")
    assert e.actor == "alice"
    assert e.request_id == "req-123"


def test_it_ignores_an_unsafe_request_id(api):
    r = api.get("/api/settings/", HTTP_X_REQUEST_ID="<script>")
    assert r["X-Request-Id"] != "<script>"
    assert len(r["X-Request-Id"]) == 16


def test_actor_is_system_outside_a_request():
    assert events.emit("retention.swept").actor == "system"
