from __future__ import annotations

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from observability.events import emit
from settings_ui import tasks
from settings_ui.models import Backup, OperatorSettings

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def backup(alice):
    emit("chain.created", actor="t", target=("chain", "c1"))
    return Backup.create_now(actor=alice)


def test_the_page_shows_both_sections(alice_client, backup):
    html = alice_client.get("/settings/").content.decode()
    assert 'id="backups"' in html and 'id="retention"' in html
    assert backup.name in html and "Create Backup" in html and "Run Now" in html


def test_the_fragment_is_the_section_alone(alice_client):
    html = alice_client.get("/views/settings-backup/", **HX).content.decode()
    assert html.lstrip().startswith('<div id="backups-section"') and "<nav" not in html


def test_the_section_requires_staff(anon_client, bob_client):
    assert anon_client.get("/views/settings-backup/").status_code == 302
    assert bob_client.get("/views/settings-backup/").status_code == 403


@pytest.mark.parametrize("suffix", ["create/", "upload/", "schedule/"])
class TestMutatingViews:
    def test_it_rejects_get(self, alice_client, suffix):
        assert alice_client.get(f"/views/settings-backup/{suffix}").status_code == 405

    def test_it_requires_staff(self, bob_client, suffix):
        assert bob_client.post(f"/views/settings-backup/{suffix}").status_code == 403
        assert not Backup.objects.exists()

    def test_it_rejects_anonymous(self, anon_client, suffix):
        assert anon_client.post(f"/views/settings-backup/{suffix}").status_code == 302


@pytest.mark.parametrize("action", ["restore", "delete"])
class TestRowActions:
    def test_it_rejects_get(self, alice_client, backup, action):
        assert alice_client.get(f"/views/settings-backup/{backup.code}/{action}/").status_code == 405

    def test_it_requires_staff(self, bob_client, backup, action):
        r = bob_client.post(f"/views/settings-backup/{backup.code}/{action}/", {"confirm_text": "RESTORE"})
        assert r.status_code == 403
        assert Backup.objects.count() == 1

    def test_it_rejects_anonymous(self, anon_client, backup, action):
        r = anon_client.post(f"/views/settings-backup/{backup.code}/{action}/", {"confirm_text": "RESTORE"})
        assert r.status_code == 302
        assert Backup.objects.count() == 1


def test_create_starts_a_backup(alice_client, django_capture_on_commit_callbacks):
    with mock.patch.object(tasks.run_backup, "delay"):
        with django_capture_on_commit_callbacks(execute=True):
            r = alice_client.post("/views/settings-backup/create/", {"exclude_secrets": "on"}, **HX)
    b = Backup.objects.get()
    assert b.exclude_secrets and not b.exclude_audit and b.status == "pending"
    html = r.content.decode()
    assert "started" in html and 'hx-trigger="every 2s"' in html


def test_preview_shows_counts(alice_client, backup):
    html = alice_client.get(f"/views/settings-backup/{backup.code}/preview/", **HX).content.decode()
    assert 'id="backup-preview"' in html and "verified" in html and "audit events" in html


def test_restore_needs_the_typed_word(alice_client, backup):
    OperatorSettings.load().apply({"max_turns": 99})
    html = alice_client.post(f"/views/settings-backup/{backup.code}/restore/", {"confirm_text": "yes"}, **HX).content.decode()
    assert "Type RESTORE to confirm." in html
    assert OperatorSettings.load().max_turns == 99
    html = alice_client.post(f"/views/settings-backup/{backup.code}/restore/", {"confirm_text": "RESTORE"}, **HX).content.decode()
    assert "Restored" in html and "pre-restore" in html
    assert OperatorSettings.load().max_turns == 30


def test_restore_refused_while_coordinator_runs(alice_client, backup):
    with mock.patch("settings_ui.backups.coordinator_running", return_value=True):
        html = alice_client.post(f"/views/settings-backup/{backup.code}/restore/", {"confirm_text": "RESTORE"}, **HX).content.decode()
    assert "Nothing was restored: Stop the coordinator first" in html


def test_delete(alice_client, backup):
    r = alice_client.post(f"/views/settings-backup/{backup.code}/delete/")
    assert r.status_code == 302 and r["Location"] == "/settings/#backups"
    assert not Backup.objects.exists()


def test_upload_and_rejection(alice_client, backup):
    data = backup.path.read_bytes()
    html = alice_client.post("/views/settings-backup/upload/", {"file": SimpleUploadedFile("x.gz", data)}, **HX).content.decode()
    assert "Uploaded as" in html and Backup.objects.filter(kind="upload").exists()
    html = alice_client.post("/views/settings-backup/upload/", {"file": SimpleUploadedFile("x.gz", b"junk")}, **HX).content.decode()
    assert "Upload rejected" in html and Backup.objects.count() == 2


def test_schedule_saves_and_shows_errors(alice_client):
    html = alice_client.post("/views/settings-backup/schedule/", {"backup_schedule": "daily", "backup_daily_hour": "30", "backup_keep": "5"}, **HX).content.decode()
    assert 'id="backup_daily_hour-errors"' in html
    assert OperatorSettings.load().backup_schedule == "off"
    html = alice_client.post("/views/settings-backup/schedule/", {"backup_schedule": "daily", "backup_daily_hour": "4", "backup_keep": "5"}, **HX).content.decode()
    assert "Schedule saved." in html and "Daily at 04:00 UTC" in html
    s = OperatorSettings.load()
    assert (s.backup_schedule, s.backup_daily_hour, s.backup_keep) == ("daily", 4, 5)


def test_upload_over_the_limit_is_refused(alice_client):
    OperatorSettings.load().apply({"backup_upload_max_mb": 1})
    big = SimpleUploadedFile("big.gz", b"x" * (2 * 1024 * 1024))
    html = alice_client.post("/views/settings-backup/upload/", {"file": big}, **HX).content.decode()
    assert "larger than the upload limit (1 MB)" in html and not Backup.objects.exists()
