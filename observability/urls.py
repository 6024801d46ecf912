from __future__ import annotations

from django.urls import path

from . import views

app_name = "observability"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("timeline/", views.timeline, name="timeline"),
    path("views/timeline-entries/", views.timeline_entries, name="timeline_entries"),
    path("performance/", views.performance, name="performance"),
]
