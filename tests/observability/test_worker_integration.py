"""A real Celery worker process runs the heartbeat task against the test database."""

from __future__ import annotations

import pytest

from observability.models import ProcessHeartbeat
from observability.tasks import heartbeat
from tests.fixtures.celery_worker import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_records_its_heartbeat(celery_worker_process, anon_api):
    heartbeat.delay()  # queued before the worker exists: it must not be lost
    worker = celery_worker_process()
    beat = wait_for(lambda: ProcessHeartbeat.objects.filter(name="worker").first(), timeout=60)
    assert beat.pid == worker.proc.pid
    assert anon_api.get("/api/health/").json()["components"]["worker"]["ok"] is True
