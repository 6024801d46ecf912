from __future__ import annotations

import datetime as dt
import io
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from observability.events import emit
from observability.models import AuditEvent
from settings_ui import tasks
from settings_ui.models import Backup, OperatorSettings, SweepRun
from settings_ui.schedule import current_slot, next_slot

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backup_list_restore_round_trip(tmp_path):
    emit("chain.created", actor="t", target=("chain", "c1"))
    out, err = run("backup", "--exclude-secrets")
    b = Backup.objects.get()
    assert b.status == "ok" and b.exclude_secrets and str(b.path) in out
    assert "backup: 100%" in err
    out, _ = run("list_backups")
    assert b.name in out
    OperatorSettings.load().apply({"max_turns": 99})
    out, _ = run("restore", b.name, "--dry-run")
    assert "Dry run: the file is valid" in out and "observability.auditevent" in out
    assert OperatorSettings.load().max_turns == 99
    out, _ = run("restore", b.name, "--yes")
    assert "Restored" in out and OperatorSettings.load().max_turns == 30
    assert Backup.objects.filter(kind="pre-restore").count() == 1


def test_backup_to_a_path_then_restore_imports_it(tmp_path):
    emit("chain.created", actor="t", target=("chain", "c1"))
    path = tmp_path / "elsewhere.jsonl.gz"
    run("backup", "--output", str(path))
    assert path.exists() and not Backup.objects.exists()
    AuditEvent.objects.all().delete()
    out, _ = run("restore", str(path), "--yes")
    assert "Imported as" in out
    assert AuditEvent.objects.filter(action="chain.created").count() == 1
    assert Backup.objects.filter(kind="upload").count() == 1


def test_restore_exit_codes(tmp_path):
    with pytest.raises(CommandError) as e:
        run("restore", str(tmp_path / "nope.gz"), "--yes")
    assert e.value.returncode == 1
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"junk")
    with pytest.raises(CommandError) as e:
        run("restore", str(bad), "--yes")
    assert e.value.returncode == 1 and "corrupt" in str(e.value)
    run("backup")
    name = Backup.objects.get().name
    with mock.patch("sys.stdin") as stdin:
        stdin.isatty.return_value = False
        with pytest.raises(CommandError) as e:
            run("restore", name)
    assert e.value.returncode == 3
    with mock.patch("settings_ui.backups.coordinator_running", return_value=True):
        with pytest.raises(CommandError) as e:
            run("restore", name, "--yes")
    assert e.value.returncode == 3 and "coordinator" in str(e.value)


def test_prune_keeps_the_newest_n():
    for _ in range(4):
        Backup.create_now(kind="auto")
    manual = Backup.create_now(kind="manual")
    newest = list(Backup.objects.filter(kind="auto").values_list("name", flat=True)[:2])
    out, _ = run("prune_backups", "--keep", "2", "--kind", "auto")
    assert "2 backup(s) deleted." in out
    assert list(Backup.objects.filter(kind="auto").values_list("name", flat=True)) == newest
    assert Backup.objects.filter(pk=manual.pk).exists()
    assert all(b.path.exists() for b in Backup.objects.all())
    assert len(list(Backup.objects.first().path.parent.glob("*.gz"))) == 3


def test_retention_sweep_command():
    out, _ = run("retention_sweep", "--dry-run")
    assert "would delete" in out and "Terminal messages" in out
    out, _ = run("retention_sweep")
    assert "deleted" in out and SweepRun.objects.count() == 2


class TestAutoBackup:
    NOW = dt.datetime(2026, 6, 1, 12, 30, tzinfo=dt.UTC)

    def test_the_schedule_is_pure(self):
        assert current_slot("off", 3, self.NOW) is None
        assert current_slot("hourly", 3, self.NOW) == dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
        assert current_slot("daily", 3, self.NOW) == dt.datetime(2026, 6, 1, 3, tzinfo=dt.UTC)
        assert current_slot("daily", 13, self.NOW) == dt.datetime(2026, 5, 31, 13, tzinfo=dt.UTC)
        assert next_slot("daily", 13, self.NOW) == dt.datetime(2026, 6, 1, 13, tzinfo=dt.UTC)
        assert next_slot("hourly", 0, self.NOW) == dt.datetime(2026, 6, 1, 13, tzinfo=dt.UTC)

    def test_off_does_nothing(self):
        assert tasks.auto_backup_tick(self.NOW) is None
        assert tasks.auto_backup_status(self.NOW)["next_run"] is None

    def test_one_backup_per_slot_then_pruned(self, django_capture_on_commit_callbacks):
        OperatorSettings.load().apply({"backup_schedule": "hourly", "backup_keep": 2})
        with mock.patch.object(tasks.run_backup, "delay", side_effect=tasks.run_backup):
            for hour in range(4):
                now = self.NOW + dt.timedelta(hours=hour)
                with time_machine.travel(now, tick=False):
                    with django_capture_on_commit_callbacks(execute=True):
                        assert tasks.auto_backup_tick(now) is not None
                        assert tasks.auto_backup_tick(now) is None  # same slot: nothing
        autos = Backup.objects.filter(kind="auto")
        assert autos.count() == 2 and {b.status for b in autos} == {"ok"}
        with time_machine.travel(self.NOW + dt.timedelta(hours=3), tick=False):
            status = tasks.auto_backup_status(self.NOW + dt.timedelta(hours=3))
        assert status["last_status"] == "ok" and status["last_error"] == ""
        assert status["next_run"] == dt.datetime(2026, 6, 1, 16, tzinfo=dt.UTC)

    def test_a_failure_is_shown_as_last_error(self, django_capture_on_commit_callbacks):
        OperatorSettings.load().apply({"backup_schedule": "daily", "backup_daily_hour": 1})
        with mock.patch("settings_ui.backups.write_backup", side_effect=OSError("disk full")):
            with mock.patch.object(tasks.run_backup, "delay", side_effect=tasks.run_backup):
                with django_capture_on_commit_callbacks(execute=True):
                    tasks.auto_backup_tick(self.NOW)
        status = tasks.auto_backup_status(self.NOW)
        assert status["last_status"] == "failed" and "disk full" in status["last_error"]

    def test_lost_messages_are_sent_again(self):
        with mock.patch.object(tasks.run_backup, "delay") as delay:
            b = Backup.start()
            assert tasks.requeue_lost_backups(b.created_at + dt.timedelta(seconds=30)) == 0
            assert tasks.requeue_lost_backups(b.created_at + dt.timedelta(minutes=2)) == 1
        delay.assert_called_with(b.pk)
