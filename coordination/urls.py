from __future__ import annotations

from django.urls import path

from . import views

app_name = "coordination"

urlpatterns = [
    path("tasks/", views.task_board, name="board"),
    path("terminals/", views.terminals, name="terminals"),
]
