from __future__ import annotations

import pytest
from django.utils import timezone

from observability import health
from observability.models import ProcessHeartbeat

pytestmark = pytest.mark.django_db


def test_it_is_public_and_reports_components(anon_api):
    r = anon_api.get("/api/health/")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["ok"] is True
    assert body["components"]["broker"]["ok"] is True
    assert body["components"]["worker"]["ok"] is None  # no worker has run yet


def test_it_ignores_a_bad_token(anon_api):
    r = anon_api.get("/api/health/", HTTP_AUTHORIZATION="Bearer nope")
    assert r.status_code == 200


def test_it_reports_a_stale_worker_as_degraded(anon_api):
    ProcessHeartbeat.objects.create(
        name="worker", seen_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    body = anon_api.get("/api/health/").json()
    assert body["status"] == "degraded"
    assert body["components"]["worker"]["ok"] is False


def test_it_reports_an_unreachable_broker(anon_api, monkeypatch):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    ok, detail = health.check_broker("redis://127.0.0.1:1/0", timeout=1)
    assert ok is False and detail
    monkeypatch.setattr(health, "check_broker", lambda: (False, "refused"))
    r = anon_api.get("/api/health/")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
    assert r.json()["components"]["broker"]["detail"] == "unreachable"  # no details for anonymous


def test_staff_see_error_details(api, monkeypatch):
    monkeypatch.setattr(health, "check_broker", lambda: (False, "ConnectionRefused: 127.0.0.1:1"))
    r = api.get("/api/health/")
    assert r.json()["components"]["broker"]["detail"] == "ConnectionRefused: 127.0.0.1:1"
