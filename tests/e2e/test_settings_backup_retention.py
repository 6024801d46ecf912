from __future__ import annotations

import pytest
from playwright.sync_api import expect

from observability.events import emit
from settings_ui.models import Backup, OperatorSettings, RetentionPolicy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_backup_preview_typed_restore_and_delete(staff_page, alice, settings, tmp_path):
    settings.OPERATOR_BACKUP_DIR = tmp_path / "backups"
    emit("chain.created", actor="t", target=("chain", "c1"))
    backup = Backup.create_now(actor=alice)
    OperatorSettings.load().apply({"max_turns": 99})
    page = staff_page
    page.goto("/settings/#backups")
    row = page.locator(f"tr[data-backup='{backup.code}']")
    expect(row).to_contain_text(backup.name)
    row.locator("button:has-text('Preview')").click()
    expect(page.locator("#backup-preview")).to_contain_text("verified")
    row = page.locator(f"tr[data-backup='{backup.code}']")
    restore = row.locator("button:has-text('Restore')")
    expect(restore).to_be_disabled()
    row.locator("input[name=confirm_text]").fill("RESTORE")
    expect(restore).to_be_enabled()
    restore.click()
    expect(page.locator("#backup-msg")).to_contain_text("Restored")
    assert OperatorSettings.load().max_turns == 30
    assert Backup.objects.filter(kind="pre-restore").exists()
    page.once("dialog", lambda d: d.accept())
    page.locator(f"tr[data-backup='{backup.code}'] button:has-text('Delete')").click()
    expect(page.locator("#backup-msg")).to_contain_text("Deleted")
    expect(page.locator(f"tr[data-backup='{backup.code}']")).to_have_count(0)


def test_backup_create_shows_the_new_row(staff_page, settings, tmp_path):
    settings.OPERATOR_BACKUP_DIR = tmp_path / "backups"
    page = staff_page
    page.goto("/settings/")
    page.check("#id_exclude_audit")
    page.click("#backup-create button[type=submit]")
    expect(page.locator("#backup-msg")).to_contain_text("started")
    expect(page.locator("#backups-table tbody tr")).to_have_count(1)
    assert Backup.objects.get().exclude_audit


def test_retention_inline_error_save_and_dry_run(staff_page):
    page = staff_page
    page.goto("/settings/#retention")
    page.fill("#id_audit_events-ttl_days", "5000")
    page.click("#retention-form button:has-text('Save')")
    expect(page.locator("#audit_events-ttl_days-errors")).to_contain_text("less than or equal to 3650")
    page.fill("#id_audit_events-ttl_days", "14")
    page.click("#retention-form button:has-text('Save')")
    expect(page.locator("#retention-section [role=status]")).to_contain_text("Saved (1 changed).")
    assert RetentionPolicy.objects.get(kind="audit_events").ttl_days == 14
    page.click("#retention-run button:has-text('Preview')")
    expect(page.locator("#retention-result")).to_contain_text("Dry run: would delete 0 rows")
    expect(page.locator("#retention-result")).to_contain_text("Terminal messages: 0")
    page.click("#retention-run button:has-text('Run Now')")
    expect(page.locator("#retention-result")).to_contain_text("Deleted 0 rows")
    expect(page.locator("#sweeps-table tbody tr")).to_have_count(2)
