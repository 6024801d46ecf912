from __future__ import annotations

from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from chains import api as chains_api
from coordination import api as coordination_api
from observability import api as observability_api
from settings_ui import api as settings_api

# One router for every app's viewsets (kebab-case prefixes), mounted under /api/ as "api".
router = DefaultRouter(trailing_slash=True)

# --- observability ---
router.register("audit", observability_api.AuditEventViewSet, basename="audit")

# --- settings_ui ---

# --- coordination ---
router.register("tasks", coordination_api.TaskViewSet, basename="task")
router.register("workers", coordination_api.WorkerViewSet, basename="worker")
router.register("dead-letters", coordination_api.DeadLetterViewSet, basename="dead-letter")
router.register("terminals", coordination_api.TerminalViewSet, basename="terminal")

# --- chains ---
router.register("chains", chains_api.ChainViewSet, basename="chains")

api_patterns = [
    path("health/", observability_api.health_view, name="health"),
    path("settings/", settings_api.settings_view, name="settings"),
    path("settings/reset/", settings_api.settings_reset_view, name="settings-reset"),
    path("coordinator/", coordination_api.coordinator_view, name="coordinator"),
    re_path(
        r"^coordinator/(?P<verb>start|drain|stop)/$",
        coordination_api.coordinator_action_view,
        name="coordinator-action",
    ),
    path("rate-limit/acquire/", coordination_api.rate_acquire_view, name="rate-acquire"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI (React) sets inline styles; allow those on this one page, never inline script.
    path(
        "docs/",
        csp_update({"style-src": ["'self'", "'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include((api_patterns, "api"))),
    path("", include("observability.urls")),
    path("", include("settings_ui.urls")),
    path("", include("coordination.urls")),
    path("", include("chains.urls")),
]
