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
    path("views/settings-webhooks/", views.webhooks_section, name="webhooks"),
    path("views/settings-webhooks/<uuid:code>/toggle/", views.webhook_toggle, name="webhook_toggle"),
    path("views/settings-webhooks/<uuid:code>/delete/", views.webhook_delete, name="webhook_delete"),
    path("views/settings-webhooks/<uuid:code>/test/", views.webhook_test, name="webhook_test"),
    path("views/settings-webhooks/<uuid:code>/deliveries/", views.webhook_deliveries,
         name="webhook_deliveries"),
    path("views/settings-webhooks/<uuid:code>/deliveries/<uuid:delivery>/redeliver/",
         views.webhook_redeliver, name="webhook_redeliver"),
    path("views/settings-webhooks/<uuid:code>/preview/", views.webhook_preview,
         name="webhook_preview"),
    path("views/settings-secrets/", views.secrets_section, name="secrets"),
    path("views/settings-secrets/<str:name>/delete/", views.secret_delete, name="secret_delete"),
]
