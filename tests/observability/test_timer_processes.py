"""The gunicorn case: a parent imports the app, forks workers, each worker's flush thread writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

from observability.histogram import Histogram
from observability.models import RouteLatencyBucket
from tests.fixtures.celery_worker import _database_url

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import django
    django.setup()
    from observability import timing

    NOW = 1_700_000_000.0
    timing.recorder.wall = lambda: NOW
    # Pending in the parent before the fork: must be flushed by the parent only, never by a child.
    for v in (1.0, 2.0, 3.0):
        timing.recorder.record("GET /x/", 200, v)
    children = []
    for k in (1, 2):
        pid = os.fork()
        if pid == 0:
            for i in range(50):
                timing.recorder.record("GET /x/", 500 if i == 0 else 200, 10.0 * k + i)
            assert timing.recorder._thread is not None  # the child's own flush thread
            deadline = time.monotonic() + 30
            while timing.recorder.flushed < 50 and time.monotonic() < deadline:
                time.sleep(0.1)
            os._exit(0 if timing.recorder.flushed == 50 else 3)
        children.append(pid)
    codes = [os.waitpid(pid, 0)[1] for pid in children]
    timing.recorder.stop()
    timing.flush()
    print("codes", codes)
    sys.exit(1 if any(codes) else 0)
    """
)


def test_it_merges_forked_workers_flushing_in_the_background():
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "operator_site.settings",
        "OPERATOR_PERF_FLUSH_SECONDS": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    row = RouteLatencyBucket.objects.get(route="GET /x/")
    values = [1.0, 2.0, 3.0] + [10.0 * k + i for k in (1, 2) for i in range(50)]
    assert row.histogram() == Histogram.of(values)
    assert row.errors_5xx == 2
