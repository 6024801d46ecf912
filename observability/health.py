"""Reachability checks for /api/health/ and for `make run`'s preflight."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

WORKER_STALE_AFTER = timedelta(seconds=90)


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, connection.vendor
    except Exception as e:  # any driver error means "unreachable" to the operator
        return False, f"{type(e).__name__}: {e}".strip()[:300]


def check_broker(url: str | None = None, timeout: float = 2.0) -> tuple[bool, str]:
    from operator_site.celery import app

    url = url or settings.CELERY_BROKER_URL
    try:
        with app.connection_for_write(url) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True, url.split(":", 1)[0]
    except Exception as e:
        return False, f"{type(e).__name__}: {e}".strip()[:300]


def check_worker() -> tuple[bool | None, str]:
    """True: seen within 90 s; False: stale; None: never seen (no worker started yet)."""
    from .models import ProcessHeartbeat

    beat = ProcessHeartbeat.objects.filter(name="worker").first()
    if beat is None:
        return None, "no worker heartbeat yet"
    age = timezone.now() - beat.seen_at
    return age <= WORKER_STALE_AFTER, f"last seen {int(age.total_seconds())} s ago"


def report() -> tuple[int, dict]:
    """(HTTP status, body). 503 when the database or the broker is unreachable."""
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    worker_ok, worker_detail = check_worker() if db_ok else (None, "database unreachable")
    status = "ok"
    if not (db_ok and broker_ok):
        status = "unhealthy"
    elif worker_ok is False:
        status = "degraded"
    body = {
        "status": status,
        "version": settings.OPERATOR_VERSION,
        "time": timezone.now().isoformat(),
        "components": {
            "database": {"ok": db_ok, "detail": db_detail},
            "broker": {"ok": broker_ok, "detail": broker_detail},
            "worker": {"ok": worker_ok, "detail": worker_detail},
        },
    }
    return (503 if status == "unhealthy" else 200), body
