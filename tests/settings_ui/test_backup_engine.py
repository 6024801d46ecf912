from __future__ import annotations

import datetime as dt
import gzip
import json
import os

import pytest
from django.db import connection

from observability.events import emit
from observability.models import AuditEvent
from settings_ui.backups import (
    BackupError,
    operator_models,
    restore_backup,
    verify_backup,
    write_backup,
)
from settings_ui.models import ApiToken, Backup, OperatorSettings, RetentionPolicy

pytestmark = pytest.mark.django_db


def snapshot():
    """Everything a restore must bring back, as comparable values."""
    return {
        "audit": list(AuditEvent.objects.order_by("pk").values()),
        "settings": list(OperatorSettings.objects.values()),
        "tokens": list(ApiToken.objects.order_by("pk").values()),
        "policies": list(RetentionPolicy.objects.order_by("pk").values()),
    }


@pytest.fixture
def data(alice):
    OperatorSettings.load().apply({"max_turns": 77, "model": "opus"})
    ApiToken.issue(alice, "laptop")
    RetentionPolicy.load_all()
    for i in range(25):
        emit("chain.created", actor="tester", target=("chain", f"c{i}"),
             data={"i": i, "text": "naïve ✓", "nested": {"a": [1, 2.5, None]}})
    AuditEvent.objects.filter(pk=AuditEvent.objects.first().pk).update(
        ts=dt.datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    )


def test_it_finds_models_through_the_registry():
    labels = [m._meta.label_lower for m in operator_models()]
    assert "observability.auditevent" in labels and "settings_ui.operatorsettings" in labels
    assert "settings_ui.backup" not in labels
    assert not any(label.startswith(("auth.", "django_celery_beat.")) for label in labels)
    assert "observability.auditevent" not in [
        m._meta.label_lower for m in operator_models(exclude_audit=True)
    ]


def test_it_round_trips_identical_data(data, tmp_path):
    before = snapshot()
    path = tmp_path / "b.jsonl.gz"
    manifest, size, digest = write_backup(path)
    assert manifest["counts"]["observability.auditevent"] == 27  # + settings, token
    assert manifest["format_version"] == 1 and "settings_ui" in manifest["migrations"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    AuditEvent.objects.all().delete()
    OperatorSettings.objects.all().delete()
    ApiToken.objects.all().delete()
    emit("noise.added")
    result = restore_backup(path)
    assert result["counts"]["observability.auditevent"] == 27
    assert snapshot() == before


def test_the_file_is_tamper_evident(data, tmp_path):
    path = tmp_path / "b.jsonl.gz"
    write_backup(path)
    lines = gzip.open(path).read().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if b"naive" in line or "naïve".encode() in line)
    lines[i] = lines[i].replace("naïve".encode(), b"NAIVE")
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b"".join(lines)))
    with pytest.raises(BackupError) as e:
        verify_backup(bad)
    assert e.value.reason == "tampered" and "observability.auditevent" in str(e.value)


def test_a_restore_that_fails_midway_changes_nothing(data, tmp_path):
    path = tmp_path / "b.jsonl.gz"
    write_backup(path)
    lines = gzip.open(path).read().splitlines(keepends=True)
    # Damage the last section's checksum: every earlier section is already loaded when it fails.
    end = max(i for i, line in enumerate(lines) if b'"type":"end"' in line)
    item = json.loads(lines[end])
    item["sha256"] = "0" * 64
    lines[end] = json.dumps(item).encode() + b"\n"
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b"".join(lines)))
    emit("after.backup")
    before = snapshot()
    from django.db import transaction

    with pytest.raises(BackupError):
        with transaction.atomic():
            restore_backup(bad)
    assert snapshot() == before


def test_it_resets_sequences(data, tmp_path):
    path = tmp_path / "b.jsonl.gz"
    write_backup(path)
    top = AuditEvent.objects.order_by("-pk").first().pk
    AuditEvent.objects.all().delete()
    restore_backup(path)
    event = emit("after.restore")
    assert event.pk > top
    assert connection.vendor in ("sqlite", "postgresql")


def test_backup_rows_survive_a_restore(data, alice, django_capture_on_commit_callbacks):
    from settings_ui.signals import data_restored

    received = []
    data_restored.connect(lambda sender, backup, **kw: received.append(backup), weak=False,
                          dispatch_uid="test-restored")
    b = Backup.create_now(actor=alice)
    assert b.status == "ok", b.error
    other = Backup.create_now()
    with django_capture_on_commit_callbacks(execute=True):
        result = b.restore(actor=alice)
    data_restored.disconnect(dispatch_uid="test-restored")
    assert received == [b]
    names = set(Backup.objects.values_list("name", flat=True))
    assert {b.name, other.name, result["pre_restore"]} <= names
    assert AuditEvent.objects.filter(action="backup.restored").count() == 1
