"""Backup + restore round trip against dumpdata + loaddata of the same data (time, peak RSS).

Data: audit events (plus the settings rows) — the models present in every build. Default size
30,000 events (< 2 min here); BENCH_FULL=1 runs the issue's 500,000. Each step runs in its own
process so its peak RSS (resource.getrusage) is its own. DESIGN.md target: round trip ≥ 5×
faster than dumpdata + loaddata, memory bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _size() -> int:
    return 500_000 if os.environ.get("BENCH_FULL") else 30_000


def _child(op: str, path: str) -> dict:
    """Run one step in a fresh process; returns {"seconds", "maxrss_mb"}."""
    out = subprocess.run(
        [sys.executable, __file__, op, path], cwd=ROOT, env=os.environ.copy(),
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{op} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fill(n: int) -> None:
    import datetime as dt

    from django.utils import timezone

    from observability.models import AuditEvent

    AuditEvent.objects.all().delete()
    now = timezone.now()
    batch = []
    for i in range(n):
        batch.append(AuditEvent(
            ts=now - dt.timedelta(seconds=i), action="chain.updated", actor="bench",
            target_type="chain", target_id=f"chain-{i % 100_000}",
            data={"i": i, "status": "running", "cost_usd": i / 1000, "note": "handoff " * 4},
            request_id=f"req-{i}",
        ))
        if len(batch) == 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)


def run():
    from observability.models import AuditEvent

    n = _size()
    print(f"   size: {n:,} audit events ({'BENCH_FULL' if os.environ.get('BENCH_FULL') else 'default'})", flush=True)
    _fill(n)
    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    ours, dump = work / "bench-backup.jsonl.gz", work / "bench-dump.json"
    b = _child("backup", str(ours))
    r = _child("restore", str(ours))
    assert AuditEvent.objects.count() == n
    d = _child("dumpdata", str(dump))
    ld = _child("loaddata", str(dump))
    assert AuditEvent.objects.count() == n
    ours_s, theirs_s = b["seconds"] + r["seconds"], d["seconds"] + ld["seconds"]
    rows = [
        ("backup", b["seconds"], "s", f"{n / b['seconds']:,.0f} rows/s, file {ours.stat().st_size / 1e6:.1f} MB"),
        ("restore", r["seconds"], "s", f"{n / r['seconds']:,.0f} rows/s"),
        ("dumpdata", d["seconds"], "s", f"file {dump.stat().st_size / 1e6:.1f} MB"),
        ("loaddata", ld["seconds"], "s", ""),
        ("round trip speed-up", theirs_s / ours_s, "×", "target ≥ 5×"),
        ("peak RSS backup", b["maxrss_mb"], "MB", ""),
        ("peak RSS restore", r["maxrss_mb"], "MB", f"loaddata {ld['maxrss_mb']:.0f} MB"),
        ("peak RSS dumpdata", d["maxrss_mb"], "MB", ""),
    ]
    for p in (ours, dump):
        p.unlink(missing_ok=True)
    AuditEvent.objects.all().delete()
    return rows


def _main(op: str, path: str) -> None:
    import resource

    sys.path.insert(0, str(ROOT))
    from bench.run import setup_django

    setup_django()
    from django.core.management import call_command
    from django.db import transaction

    from settings_ui.backups import restore_backup, write_backup

    started = time.perf_counter()
    if op == "backup":
        write_backup(Path(path))
    elif op == "restore":
        with transaction.atomic():
            restore_backup(Path(path))
    elif op == "dumpdata":
        call_command("dumpdata", "observability", "settings_ui", exclude=["settings_ui.backup"],
                     output=path, verbosity=0)
    elif op == "loaddata":
        from observability.models import AuditEvent

        with transaction.atomic():
            AuditEvent.objects.all().delete()
            call_command("loaddata", path, verbosity=0)
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "maxrss_mb": rss_mb}))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
