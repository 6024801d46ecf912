from __future__ import annotations

import os
import socket

from celery import shared_task
from django.utils import timezone

from .models import ProcessHeartbeat


@shared_task
def heartbeat() -> None:
    """Beat sends this every 30 s; the worker that runs it proves the worker+beat path is alive."""
    ProcessHeartbeat.objects.update_or_create(
        name="worker",
        defaults={"host": socket.gethostname(), "pid": os.getpid(), "seen_at": timezone.now()},
    )


@shared_task
def rollup_latency() -> int:
    """Beat, every 10 min: merge per-minute route latency older than 48 h into hourly rows."""
    from . import timing

    return timing.rollup()
