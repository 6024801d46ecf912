"""A backup reads one snapshot, and does not block writers while it runs."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from observability.events import emit
from observability.models import AuditEvent
from settings_ui import backups


@pytest.mark.django_db(transaction=True)
def test_rows_written_during_a_backup_are_not_in_it(monkeypatch, tmp_path):
    for i in range(12):
        emit("chain.created", actor="t", target=("chain", str(i)))
    monkeypatch.setattr(backups, "BATCH", 5)
    writes = []

    def write_elsewhere():
        try:
            emit("during.backup")  # its own connection, committed at once
            writes.append("ok")
        except Exception as e:  # recorded for the assertion below
            writes.append(repr(e))
        finally:
            connection.close()

    def progress(done, total):
        if not writes:
            t = threading.Thread(target=write_elsewhere)
            t.start()
            t.join(30)

    manifest, _, _ = backups.write_backup(tmp_path / "b.jsonl.gz", progress=progress)
    assert writes == ["ok"]
    assert AuditEvent.objects.filter(action="during.backup").exists()
    assert manifest["counts"]["observability.auditevent"] == 12
