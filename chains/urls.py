from __future__ import annotations

from django.urls import path

from . import views

app_name = "chains"

urlpatterns = [
    path("chains/", views.chain_list, name="list"),
]
