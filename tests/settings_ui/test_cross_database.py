"""A backup written on SQLite restores on PostgreSQL (and back) with identical data.

tests/settings_ui/data/sqlite-backup.jsonl.gz was written by this code on SQLite:
    REGENERATE_BACKUP_FIXTURE=1 .venv/bin/python -m pytest tests/settings_ui/test_cross_database.py
Each run (SQLite or PostgreSQL) restores it, backs the result up again and compares the rows.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from django.db import connection

from observability.events import emit
from observability.models import AuditEvent
from settings_ui.backups import write_backup
from settings_ui.models import Backup, OperatorSettings, RetentionPolicy, SweepRun

pytestmark = pytest.mark.django_db
FIXTURE = Path(__file__).parent / "data" / "sqlite-backup.jsonl.gz"


def _sample_data():
    OperatorSettings.load().apply({"max_turns": 42, "model": "haiku", "max_budget_usd": 12.75,
                                   "auto_push": True})
    RetentionPolicy.load_all()
    RetentionPolicy.objects.filter(kind="audit_events").update(ttl_days=90)
    for i in range(40):
        e = emit("chain.updated", actor="fixture", target=("chain", f"chain-{i}"),
                 data={"i": i, "zeta": "ünïcødé ✓ \"quoted\"\n", "alpha": {"b": [1, 2.5, None, True]},
                       "big": 2**53, "neg": -0.125})
        AuditEvent.objects.filter(pk=e.pk).update(
            ts=dt.datetime(2024, 2, 29, 23, 59, 59, 999999 - i, tzinfo=dt.UTC)
        )
    SweepRun.objects.create(dry_run=True, trigger="fixture", status="ok",
                            counts={"audit_events": 3, "snapshots": None}, duration_ms=7)


def _rows(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    fields: list[str] = []
    label = None
    with gzip.open(path, "rb") as f:
        for line in f:
            item = json.loads(line)
            if isinstance(item, list):
                out[label].append(dict(zip(fields, item, strict=True)))
            elif item.get("type") == "section":
                label, fields = item["model"], item["fields"]
                out[label] = []
    return out


@pytest.mark.skipif(not os.environ.get("REGENERATE_BACKUP_FIXTURE"), reason="writes the fixture")
def test_regenerate_fixture(tmp_path):
    assert connection.vendor == "sqlite", "the fixture must be written on SQLite"
    _sample_data()
    write_backup(FIXTURE)


def test_a_sqlite_backup_restores_here_with_identical_data(tmp_path, backup_dir):
    backup_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, backup_dir / FIXTURE.name)
    b = Backup.objects.create(name=FIXTURE.name, kind="upload", status="ok")
    emit("before.restore")  # replaced by the restore
    preview = b.preview()
    assert preview["valid"], preview["error"]
    assert preview["manifest"]["database"] == "sqlite"
    result = b.restore()
    assert result["counts"]["observability.auditevent"] >= 40
    assert OperatorSettings.load().max_turns == 42
    assert not AuditEvent.objects.filter(action="before.restore").exists()
    again = tmp_path / "again.jsonl.gz"
    write_backup(again)
    expected, got = _rows(FIXTURE), _rows(again)
    for label, rows in expected.items():
        if label == "observability.auditevent":  # the restore added backup.created/restored events
            got[label] = [r for r in got[label] if r["action"] not in ("backup.created", "backup.restored")]
        assert [{k: r[k] for k in rows[0]} if rows else r for r in got[label]] == rows, label
    e = AuditEvent.objects.get(target_id="chain-7")
    assert e.ts == dt.datetime(2024, 2, 29, 23, 59, 59, 999992, tzinfo=dt.UTC)
    assert e.data["zeta"] == "ünïcødé ✓ \"quoted\"\n" and e.data["big"] == 2**53
    # New rows get fresh ids after the restored ones (PostgreSQL sequences were reset).
    assert emit("after.restore").pk > max(r["id"] for r in expected["observability.auditevent"])
