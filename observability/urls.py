from __future__ import annotations

from django.urls import path

from . import performance_views, views

app_name = "observability"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("timeline/", views.timeline, name="timeline"),
    path("views/timeline-entries/", views.timeline_entries, name="timeline_entries"),
    path("performance/", performance_views.performance_page, name="performance"),
    path(
        "views/performance-summary/",
        performance_views.performance_summary,
        name="performance_summary",
    ),
]
