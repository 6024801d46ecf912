from __future__ import annotations

from django.urls import path, re_path

from . import views

app_name = "coordination"

urlpatterns = [
    path("tasks/", views.task_board, name="board"),
    path("tasks/add/", views.task_add, name="add"),
    re_path(r"^tasks/coordinator/(?P<verb>start|drain|stop)/$", views.coordinator_action,
            name="coordinator"),
    re_path(r"^tasks/dead-letters/(?P<code>[0-9a-f-]{36})/(?P<verb>retry|dismiss)/$",
            views.dead_letter_action, name="dead_letter"),
    re_path(r"^tasks/(?P<code>[-a-zA-Z0-9_]+)/(?P<verb>cancel|retry|delete)/$",
            views.task_action, name="task_action"),
    path("terminals/", views.terminals, name="terminals"),
    path("views/terminal/<slug:code>/", views.terminal_panel, name="terminal_panel"),
]
