from __future__ import annotations

import gzip
import io
import json
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from observability.events import emit
from observability.links import resolve
from observability.models import AuditEvent
from settings_ui import tasks
from settings_ui.models import Backup, OperatorSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def backup(alice):
    emit("chain.created", actor="t", target=("chain", "c1"))
    b = Backup.create_now(actor=alice)
    assert b.status == "ok", b.error
    return b


class TestAccess:
    @pytest.mark.parametrize("path", ["/api/backups/", "/api/retention/", "/api/retention/runs/"])
    def test_it_requires_staff(self, path, anon_api, bob_api):
        assert anon_api.get(path).status_code == 401
        assert bob_api.get(path).status_code == 403

    def test_detail_actions_require_staff(self, backup, anon_api, bob_api):
        for path in (f"/api/backups/{backup.code}/", f"/api/backups/{backup.code}/preview/",
                     f"/api/backups/{backup.code}/download/"):
            assert anon_api.get(path).status_code == 401
            assert bob_api.get(path).status_code == 403
        r = bob_api.post(f"/api/backups/{backup.code}/restore/", {"confirm": True})
        assert r.status_code == 403
        assert bob_api.delete(f"/api/backups/{backup.code}/").status_code == 403
        assert Backup.objects.filter(pk=backup.pk).exists()

    def test_it_accepts_a_bearer_token(self, anon_api, alice_token):
        r = anon_api.get("/api/backups/", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
        assert r.status_code == 200


class TestCreate:
    def test_it_creates_a_pending_row_and_enqueues_the_task(self, api, django_capture_on_commit_callbacks):
        with mock.patch.object(tasks.run_backup, "delay") as delay:
            with django_capture_on_commit_callbacks(execute=True):
                r = api.post("/api/backups/", {"exclude_audit": True}, format="json")
        assert r.status_code == 202
        b = Backup.objects.get(code=r.json()["id"])
        assert b.status == "pending" and b.exclude_audit and b.created_by.username == "alice"
        delay.assert_called_once_with(b.pk)
        tasks.run_backup(b.pk)
        b.refresh_from_db()
        assert b.status == "ok" and "observability.auditevent" not in b.counts
        assert api.get(f"/api/backups/{b.code}/").json()["status"] == "ok"
        assert AuditEvent.objects.filter(action="backup.created", target_id=str(b.code)).exists()

    def test_a_second_delivery_does_nothing(self, alice):
        b = Backup.start(actor=alice)
        tasks.run_backup(b.pk)
        b.refresh_from_db()
        size = b.size
        tasks.run_backup(b.pk)
        assert Backup.objects.get(pk=b.pk).size == size
        assert Backup.objects.count() == 1

    def test_it_rejects_unknown_fields(self, api):
        r = api.post("/api/backups/", {"exclude_everything": True}, format="json")
        assert r.status_code == 400 and "exclude_everything" in r.json()
        assert not Backup.objects.exists()


class TestPreview:
    def test_it_compares_counts(self, api, backup):
        emit("later.event")
        r = api.get(f"/api/backups/{backup.code}/preview/")
        assert r.status_code == 200
        body = r.json()
        assert body["valid"] is True
        audit = next(m for m in body["models"] if m["model"] == "observability.auditevent")
        assert audit["in_backup"] == backup.counts["observability.auditevent"]
        assert audit["present_now"] == audit["in_backup"] + 1 + 1  # + backup.created + later

    def test_it_reports_a_changed_file(self, api, backup):
        with open(backup.path, "ab") as f:
            f.write(b"x")
        body = api.get(f"/api/backups/{backup.code}/preview/").json()
        assert body["valid"] is False and body["reason"] == "tampered"

    def test_it_reports_a_missing_file(self, api, backup):
        backup.path.unlink()
        body = api.get(f"/api/backups/{backup.code}/preview/").json()
        assert body["valid"] is False and body["reason"] == "missing"

    def test_it_404s_for_unknown_ids(self, api):
        assert api.get("/api/backups/00000000-0000-0000-0000-000000000000/preview/").status_code == 404


class TestRestore:
    def test_it_needs_confirm(self, api, backup):
        r = api.post(f"/api/backups/{backup.code}/restore/", {}, format="json")
        assert r.status_code == 400 and "confirm" in r.json()
        r = api.post(f"/api/backups/{backup.code}/restore/", {"confirm": False}, format="json")
        assert r.status_code == 400 and "confirm" in r.json()

    def test_it_rejects_get(self, api, backup):
        assert api.get(f"/api/backups/{backup.code}/restore/").status_code == 405

    def test_it_restores_with_a_pre_restore_backup(self, api, backup):
        OperatorSettings.load().apply({"max_turns": 99})
        r = api.post(f"/api/backups/{backup.code}/restore/", {"confirm": True}, format="json")
        assert r.status_code == 200, r.json()
        assert OperatorSettings.load().max_turns == 30
        pre = Backup.objects.get(name=r.json()["pre_restore"])
        assert pre.kind == "pre-restore" and pre.status == "ok"
        assert AuditEvent.objects.filter(action="backup.restored").count() == 1

    def test_it_refuses_while_the_coordinator_runs(self, api, backup):
        with mock.patch("settings_ui.backups.coordinator_running", return_value=True):
            r = api.post(f"/api/backups/{backup.code}/restore/", {"confirm": True}, format="json")
        assert r.status_code == 409 and "coordinator" in r.json()["detail"]
        assert Backup.objects.count() == 1  # no pre-restore backup either

    def test_it_rejects_a_damaged_file_before_writing_anything(self, api, backup):
        data = backup.path.read_bytes()
        backup.path.write_bytes(data[: len(data) // 2])
        backup.sha256 = ""  # only the stream itself can tell now
        backup.save()
        r = api.post(f"/api/backups/{backup.code}/restore/", {"confirm": True}, format="json")
        assert r.status_code == 400 and "truncated" in r.json()["backup"][0]
        assert Backup.objects.count() == 1


class TestDownloadDelete:
    def test_it_downloads_the_file(self, api, backup):
        r = api.get(f"/api/backups/{backup.code}/download/")
        assert r.status_code == 200
        assert backup.name in r["Content-Disposition"]
        assert b"".join(r.streaming_content) == backup.path.read_bytes()

    def test_it_deletes_row_and_file(self, api, backup):
        r = api.delete(f"/api/backups/{backup.code}/")
        assert r.status_code == 204
        assert not backup.path.exists() and not Backup.objects.exists()
        assert AuditEvent.objects.filter(action="backup.deleted").exists()

    def test_it_refuses_to_delete_a_running_backup(self, api, alice):
        b = Backup.start(actor=alice)
        assert api.delete(f"/api/backups/{b.code}/").status_code == 409


def _file(data: bytes, name="b.jsonl.gz"):
    return SimpleUploadedFile(name, data, content_type="application/gzip")


class TestUpload:
    def test_it_stores_a_valid_file(self, api, backup):
        data = backup.path.read_bytes()
        r = api.post("/api/backups/upload/", {"file": _file(data)}, format="multipart")
        assert r.status_code == 201, r.json()
        b = Backup.objects.get(code=r.json()["id"])
        assert b.kind == "upload" and b.counts == backup.counts and b.path.read_bytes() == data
        assert b.preview()["valid"]

    @pytest.mark.parametrize("data,word", [
        (b"not a backup at all", "not a readable backup"),
        (gzip.compress(b'{"type":"header","format":"operator-backup","format_version":99}\n'),
         "Unknown backup format version 99"),
        (gzip.compress(b'{"type":"header","format":"operator-backup","format_version":1,'
                       b'"migrations":{"settings_ui":["9999_future"]}}\n'), "newer schema"),
        (gzip.compress(b'{"type":"header","format":"operator-backup","format_version":1}\n'),
         "truncated"),
        (gzip.compress(b"{oops\n"), "not valid JSON"),
    ])
    def test_it_rejects_bad_files_saying_why(self, api, data, word):
        r = api.post("/api/backups/upload/", {"file": _file(data)}, format="multipart")
        assert r.status_code == 400 and word in r.json()["file"][0]
        assert not Backup.objects.exists()

    def test_it_enforces_the_size_limit(self, api, backup):
        OperatorSettings.load().apply({"backup_upload_max_mb": 1})
        big = io.BytesIO(b"x" * (2 * 1024 * 1024))
        big.name = "big.gz"
        r = api.post("/api/backups/upload/", {"file": big}, format="multipart")
        assert r.status_code == 400 and "upload limit" in r.json()["file"][0]
        assert Backup.objects.count() == 1

    def test_it_requires_a_file(self, api):
        r = api.post("/api/backups/upload/", {}, format="multipart")
        assert r.status_code == 400 and "file" in r.json()

    def test_it_requires_staff(self, bob_api, anon_api):
        assert bob_api.post("/api/backups/upload/", {"file": _file(b"x")}, format="multipart").status_code == 403
        assert anon_api.post("/api/backups/upload/", {"file": _file(b"x")}, format="multipart").status_code == 401


def test_timeline_links_backups_to_the_settings_page(backup):
    links = resolve([("backup", str(backup.code)), ("backup", "gone"), ("backup", "00000000-0000-0000-0000-000000000000")])
    assert links[("backup", str(backup.code))] == "/settings/#backups"
    assert links[("backup", "gone")] is None


def test_the_list_is_newest_first(api, alice):
    a = Backup.create_now(actor=alice)
    b = Backup.create_now(actor=alice)
    body = api.get("/api/backups/").json()
    assert [r["id"] for r in body["results"]] == [str(b.code), str(a.code)]
    assert json.dumps(body)  # serialisable
