from __future__ import annotations

import re
import uuid

from . import context

# A caller's X-Request-Id is echoed only when it is a short token, never arbitrary text.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-Id) and exposes it, with the user, to emit()."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex[:16]
        request.request_id = request_id
        # The user is resolved lazily: auth middleware runs after this one.
        token = context.current.set(context.RequestContext(request_id, _LazyUser(request)))
        try:
            response = self.get_response(request)
        finally:
            context.current.reset(token)
        response["X-Request-Id"] = request_id
        return response


class _LazyUser:
    """Resolves to the request's user at emit() time (session or DRF token user)."""

    def __init__(self, request):
        self.request = request

    def resolve(self):
        drf_user = getattr(self.request, "_operator_api_user", None)
        if drf_user is not None:
            return drf_user
        return getattr(self.request, "user", None)
