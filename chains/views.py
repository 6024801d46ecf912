from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from operator_site.lib.views import staff_required


@staff_required
def chain_list(request: HttpRequest) -> HttpResponse:
    return render(request, "chains/chain_list.html", {})
