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
]
