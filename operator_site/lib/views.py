"""Helpers shared by the HTML views of every app."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def staff_required(view):
    """Anonymous → login page (with ?next=); logged in but not staff → 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("Staff access required.")
        return view(request, *args, **kwargs)

    return wrapper


def htmx_partial(request: HttpRequest) -> bool:
    """True for an HTMX request that wants a fragment (not a boosted full-page navigation)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted
