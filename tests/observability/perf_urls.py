"""The site's URLs plus a few URL kinds the site may not have yet (uuid converter, bare regex)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path, re_path

from operator_site.urls import urlpatterns as site_patterns


def ok(request, **kwargs):
    return HttpResponse("ok")


def boom(request):
    raise RuntimeError("boom")


def teapot(request):
    return HttpResponse("no", status=418)


urlpatterns = [
    path("t/things/<uuid:pk>/", ok),
    re_path(r"^t/re/(\d+)/(?P<slug>[a-z]+)/?$", ok),
    path("t/boom/", boom),
    path("t/teapot/", teapot),
    *site_patterns,
]
