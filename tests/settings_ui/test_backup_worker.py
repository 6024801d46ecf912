"""The one wiring test: a backup created through the API is written by a real Celery worker."""

from __future__ import annotations

import pytest

from settings_ui.models import Backup
from tests.fixtures.celery_worker import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_writes_the_backup(celery_worker_process, api, monkeypatch, backup_dir):
    monkeypatch.setenv("OPERATOR_BACKUP_DIR", str(backup_dir))
    r = api.post("/api/backups/", {}, format="json")
    assert r.status_code == 202
    celery_worker_process()
    b = wait_for(lambda: Backup.objects.filter(code=r.json()["id"], status__in=("ok", "failed")).first(), timeout=60)
    assert b.status == "ok", b.error
    assert b.path.exists() and b.preview()["valid"]
    assert api.get(f"/api/backups/{b.code}/").json()["rows_done"] == b.total_rows
