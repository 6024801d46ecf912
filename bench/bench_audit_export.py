"""Audit export: rows/s and peak RSS of a streamed CSV/JSONL/JSON export (target < 150 MB).

Default size 100,000 events so `make bench` stays short; BENCH_FULL=1 exports 1,000,000 (the
DESIGN.md target). The export runs in a fresh subprocess so its peak RSS (ru_maxrss) is the
export's own, not this process's, which holds the inserted rows' history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTION = "bench.exported"
TARGET_MB = 150

# Runs in the subprocess: set up Django, log in a staff user, stream the export, count lines.
CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "operator_site.settings")
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
fmt = sys.argv[2]
c = Client(HTTP_HOST="127.0.0.1")  # a host ALLOWED_HOSTS accepts outside tests
c.force_login(get_user_model().objects.get(username="bench-export"))
base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
r = c.get(f"/api/export/audit/?format={fmt}&action=bench.exported")
assert r.status_code == 200 and r.streaming, r.status_code
lines = size = 0
for chunk in r.streaming_content:
    lines += chunk.count(b"\n")
    size += len(chunk)
r.close()
print(json.dumps({"seconds": time.perf_counter() - started, "lines": lines, "bytes": size,
                  "base_kb": base_kb, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _ensure_events(n: int) -> None:
    from django.utils import timezone

    from observability.models import AuditEvent

    have = AuditEvent.objects.filter(action=ACTION).count()
    if have > n:
        AuditEvent.objects.filter(action=ACTION).delete()
        have = 0
    now = timezone.now()
    batch = 10_000
    for start in range(have, n, batch):
        AuditEvent.objects.bulk_create(
            AuditEvent(
                ts=now,
                action=ACTION,
                actor="bench",
                target_type="chain",
                target_id=f"00000000-0000-4000-8000-{i:012d}",
                data={"i": i, "task": "=formula, \"quoted\" text", "tags": ["a", "b"]},
                request_id=f"req-{i}",
            )
            for i in range(start, min(start + batch, n))
        )


def _export(fmt: str) -> dict:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), fmt],
        env=env, capture_output=True, text=True,
    )
    if out.returncode:
        raise RuntimeError(f"export subprocess failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run():
    from django.contrib.auth import get_user_model

    full = os.environ.get("BENCH_FULL") == "1"
    n = 1_000_000 if full else 100_000
    print(f"   size: {n:,} events ({'BENCH_FULL=1' if full else 'default; BENCH_FULL=1 for 1,000,000'})", flush=True)
    started = time.perf_counter()
    _ensure_events(n)
    print(f"   setup: {time.perf_counter() - started:.1f} s", flush=True)
    get_user_model().objects.update_or_create(username="bench-export", defaults={"is_staff": True})
    rows = []
    for fmt in ("csv", "jsonl", "json"):
        res = _export(fmt)
        count = res["lines"] - (1 if fmt == "csv" else 0) - (2 if fmt == "json" else 0)
        assert count == n, (fmt, count, n)
        peak_mb = res["peak_kb"] / 1024
        rows.append((f"{fmt} export rows/s ({n:,} rows)", n / res["seconds"], "rows/s",
                     f"{res['bytes'] / res['seconds'] / 1e6:.1f} MB/s of output"))
        rows.append((f"{fmt} export peak RSS", peak_mb, "MB",
                     f"target < {TARGET_MB} MB: {'ok' if peak_mb < TARGET_MB else 'OVER'}"
                     f" (before export {res['base_kb'] / 1024:.0f} MB)"))
    return rows
