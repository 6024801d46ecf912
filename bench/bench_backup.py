"""Backup + restore round trip against dumpdata + loaddata of the same data (time, peak RSS).

Data: audit events, plus chains with two sessions each when chains.Chain/Session exist (rows
synthesised from the field types, so the bench needs no knowledge of those models). Default
30,000 events + 3,000 chains (< 2 min here); BENCH_FULL=1 runs the issue's 500,000 events +
100,000 chains. Each step runs in its own process so its peak RSS (resource.getrusage) is its
own. DESIGN.md target: round trip ≥ 5× faster than dumpdata + loaddata, memory bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _size() -> tuple[int, int]:
    return (500_000, 100_000) if os.environ.get("BENCH_FULL") else (30_000, 3_000)


def _synth_value(field, i: int, pools: dict):
    import datetime as dt
    import uuid

    from django.db.models import NOT_PROVIDED
    from django.utils import timezone

    if field.is_relation:
        if field.null:
            return None  # optional links (e.g. a chain's restarted_from) stay empty
        pool = pools[field.related_model]
        return pool[i % len(pool)] if not field.unique else pool[i]
    if field.default is not NOT_PROVIDED:
        return field.get_default()
    if field.null:
        return None
    if field.choices:
        return field.choices[0][0]
    kind = field.get_internal_type()
    if kind in ("CharField", "TextField", "SlugField"):
        return f"{field.name}-{i}"[: field.max_length or 200]
    if kind == "EmailField":
        return f"u{i}@example.com"
    if "Integer" in kind:
        return i
    if kind in ("FloatField", "DecimalField"):
        return 1
    if kind == "BooleanField":
        return False
    if kind == "DateTimeField":
        return timezone.now() - dt.timedelta(seconds=i)
    if kind == "DateField":
        return dt.date.today()
    if kind == "UUIDField":
        return uuid.uuid4()
    if kind == "JSONField":
        return {"i": i}
    if kind == "GenericIPAddressField":
        return "127.0.0.1"
    raise ValueError(f"cannot synthesise {kind}")


def _synth(model, n: int, pools: dict) -> int:
    """Bulk-create n rows of model with values made from its field types; returns n."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    batch = []
    for i in range(n):
        batch.append(model(**{f.attname: _synth_value(f, i, pools) for f in fields}))
        if len(batch) == 5000:
            model.objects.bulk_create(batch)
            batch = []
    model.objects.bulk_create(batch)
    pools[model] = list(model.objects.values_list("pk", flat=True))
    return n


def _fill_chains(n: int) -> str:
    from django.apps import apps

    try:
        chain, session = apps.get_model("chains", "Chain"), apps.get_model("chains", "Session")
    except LookupError:
        return "chains.Chain/Session not in this build: audit events only"
    session.objects.all().delete()
    chain.objects.all().delete()
    pools: dict = {}
    try:
        _synth(chain, n, pools)
        _synth(session, 2 * n, pools)
    except Exception as e:  # a model the synthesiser cannot fill: say so, bench the rest
        return f"chains not filled ({type(e).__name__}: {e})"
    return f"{n:,} chains + {2 * n:,} sessions"


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

    n, chains = _size()
    _fill(n)
    note = _fill_chains(chains)
    print(f"   size: {n:,} audit events; {note} "
          f"({'BENCH_FULL' if os.environ.get('BENCH_FULL') else 'default'})", flush=True)
    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    ours, dump = work / "bench-backup.jsonl.gz", work / "bench-dump.json"
    total = _total_rows()
    b = _child("backup", str(ours))
    r = _child("restore", str(ours))
    assert AuditEvent.objects.count() == n and _total_rows() == total
    d = _child("dumpdata", str(dump))
    ld = _child("loaddata", str(dump))
    assert AuditEvent.objects.count() == n and _total_rows() == total
    ours_s, theirs_s = b["seconds"] + r["seconds"], d["seconds"] + ld["seconds"]
    rows = [
        ("rows", total, "rows", ""),
        ("backup", b["seconds"], "s", f"{total / b['seconds']:,.0f} rows/s, file {ours.stat().st_size / 1e6:.1f} MB"),
        ("restore", r["seconds"], "s", f"{total / r['seconds']:,.0f} rows/s"),
        ("dumpdata", d["seconds"], "s", f"file {dump.stat().st_size / 1e6:.1f} MB"),
        ("loaddata", ld["seconds"], "s", ""),
        ("round trip speed-up", theirs_s / ours_s, "×", "target ≥ 5×"),
        ("peak RSS backup", b["maxrss_mb"], "MB", f"+{b['growth_mb']:.1f} MB over the process before it"),
        ("peak RSS restore", r["maxrss_mb"], "MB", f"+{r['growth_mb']:.1f} MB; loaddata +{ld['growth_mb']:.1f} MB"),
        ("peak RSS dumpdata", d["maxrss_mb"], "MB", f"+{d['growth_mb']:.1f} MB"),
    ]
    for p in (ours, dump):
        p.unlink(missing_ok=True)
    AuditEvent.objects.all().delete()
    _fill_chains(0)
    return rows


def _total_rows() -> int:
    from settings_ui.backups import operator_models

    return sum(m._base_manager.count() for m in operator_models())


def _main(op: str, path: str) -> None:
    import resource

    sys.path.insert(0, str(ROOT))
    from bench.run import setup_django

    setup_django()
    from django.core.management import call_command
    from django.db import transaction

    from settings_ui.backups import restore_backup, write_backup

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Django + migrate
    started = time.perf_counter()
    if op == "backup":
        write_backup(Path(path))
    elif op == "restore":
        with transaction.atomic():
            restore_backup(Path(path))
    elif op == "dumpdata":
        from settings_ui.backups import OPERATOR_APPS

        call_command("dumpdata", *OPERATOR_APPS, exclude=["settings_ui.backup"],
                     output=path, verbosity=0)
    elif op == "loaddata":
        from settings_ui.backups import operator_models

        with transaction.atomic():  # the same starting point as restore: empty tables
            for model in reversed(operator_models()):
                model._base_manager.all().delete()
            call_command("loaddata", path, verbosity=0)
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "maxrss_mb": rss_mb, "growth_mb": rss_mb - baseline_mb}))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
