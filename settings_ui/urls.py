from __future__ import annotations

from django.urls import path

from . import views

app_name = "settings_ui"

urlpatterns = [
    path("settings/", views.settings_page, name="page"),
    path("views/settings-general/", views.general_section, name="general"),
    path("views/settings-general/reset/", views.general_reset, name="general_reset"),
    path("views/settings-tokens/", views.tokens_section, name="tokens"),
    path("views/settings-tokens/<uuid:code>/revoke/", views.token_revoke, name="token_revoke"),
    path("views/settings-backup/", views.backups_section, name="backups"),
    path("views/settings-backup/create/", views.backup_create, name="backup_create"),
    path("views/settings-backup/upload/", views.backup_upload, name="backup_upload"),
    path("views/settings-backup/schedule/", views.backup_schedule, name="backup_schedule"),
    path("views/settings-backup/<uuid:code>/preview/", views.backup_preview, name="backup_preview"),
    path("views/settings-backup/<uuid:code>/restore/", views.backup_restore, name="backup_restore"),
    path("views/settings-backup/<uuid:code>/delete/", views.backup_delete, name="backup_delete"),
    path("views/settings-retention/", views.retention_section, name="retention"),
    path("views/settings-retention/run/", views.retention_run, name="retention_run"),
]
