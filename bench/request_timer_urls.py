from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


def ping(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/ping/", ping)]
