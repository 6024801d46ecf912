from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from operator_site.lib.views import staff_required


@staff_required
def task_board(request: HttpRequest) -> HttpResponse:
    return render(request, "coordination/task_board.html", {})


@staff_required
def terminals(request: HttpRequest) -> HttpResponse:
    return render(request, "coordination/terminals.html", {})
