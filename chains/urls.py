from __future__ import annotations

from django.urls import path

from . import views

app_name = "chains"

urlpatterns = [
    path("chains/", views.chain_list, name="list"),
    path("chains/bulk-archive/", views.bulk_archive, name="bulk_archive"),
    path("chains/bulk-delete/", views.bulk_delete, name="bulk_delete"),
    path("chains/<uuid:pk>/", views.chain_detail, name="detail"),
    path("chains/<uuid:pk>/edit/", views.chain_edit, name="edit"),
    path("chains/<uuid:pk>/abort/", views.chain_abort, name="abort"),
    path("chains/<uuid:pk>/restart/", views.chain_restart, name="restart"),
    path("chains/<uuid:pk>/archive/", views.chain_archive, name="archive"),
    path("chains/<uuid:pk>/delete/", views.chain_delete, name="delete"),
    path("chains/<uuid:pk>/start/", views.chain_start, name="start"),
    path("chains/<uuid:pk>/output/", views.chain_output, name="output"),
]
