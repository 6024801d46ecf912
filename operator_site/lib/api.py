"""API conventions shared by every app: staff permission, pagination, strict bodies, errors.

DESIGN.md: lists paginate with ?limit=&offset= (default 50, max 200); validation errors are
400 {field: [messages]}; state conflicts are 409 {detail}; an unknown or read-only body key is a
400 naming it, never silently ignored.
"""

from __future__ import annotations

from rest_framework import exceptions, pagination, permissions, serializers
from rest_framework.response import Response


class IsStaff(permissions.BasePermission):
    """Authenticated staff only. Anonymous callers get 401 (via the Bearer challenge), others 403."""

    message = "Staff access required."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            raise exceptions.NotAuthenticated()
        return bool(user.is_active and user.is_staff)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 200

    def get_limit(self, request):
        # Bad values are a 400 naming the parameter, not a silent default.
        raw = request.query_params.get(self.limit_query_param)
        if raw is None or raw == "":
            return self.default_limit
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({"limit": ["Must be an integer."]}) from None
        if value < 1 or value > self.max_limit:
            raise exceptions.ValidationError(
                {"limit": [f"Must be between 1 and {self.max_limit}."]}
            )
        return value

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is None or raw == "":
            return 0
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({"offset": ["Must be an integer."]}) from None
        if value < 0:
            raise exceptions.ValidationError({"offset": ["Must be 0 or more."]})
        return value


class SearchPagination(LimitOffsetPagination):
    """Exact counts, except under a substring search (?q=), where the count is capped.

    COUNT(*) has to read every matching row: a common word matches ~15,000 of 100,000 chains
    and counting them costs 30-60 ms on PostgreSQL even with the trigram index, while the page
    itself (newest first, LIMIT 50) stops after a few hundred rows. So under ?q= the count stops
    at `count_cap`, or one row past the requested page when that is deeper, and the response
    says `"count_exact": false`: a lower bound, "1,000+". `next` keeps working at any depth because
    the counted window always reaches past the current page.
    """

    count_cap = 1000
    search_param = "q"

    def get_count(self, queryset) -> int:
        self.count_exact = True
        if not self.request.query_params.get(self.search_param, "").strip():
            return super().get_count(queryset)
        window = max(self.count_cap, self.get_offset(self.request) + self.limit + 1)
        # Counting a sliced queryset is COUNT(*) over a LIMITed subquery: it stops early.
        found = queryset.order_by()[: window + 1].count()
        if found > window:
            self.count_exact = False
            return window
        return found

    def get_paginated_response(self, data):
        return Response({
            "count": self.count,
            "count_exact": self.count_exact,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
        })

    def get_paginated_response_schema(self, schema):
        out = super().get_paginated_response_schema(schema)
        out["properties"]["count_exact"] = {
            "type": "boolean",
            "description": "false when a ?q= search matched more rows than were counted; "
            "count is then a lower bound.",
        }
        out["required"] = [*out.get("required", []), "count_exact"]
        return out


class Conflict(exceptions.APIException):
    """409: the request is valid but the object's state forbids it (e.g. deleting a running chain)."""

    status_code = 409
    default_detail = "The object's current state does not allow this."
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "The object changed since you read it (ETag mismatch)."
    default_code = "precondition_failed"


class StrictFieldsMixin:
    """Reject body keys the serializer does not accept for writing (unknown or read-only)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {
                name for name, field in self.fields.items() if not field.read_only
            }
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: [
                            "This field is read-only."
                            if key in self.fields
                            else "Unknown field."
                        ]
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)


def exception_handler(exc, context):
    # Imported here: rest_framework.views imports the permission classes of this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ParseError):
        # Name what was wrong with the body itself, like a field error.
        response.data = {"detail": f"Malformed request body: {exc.detail}"}
    return response
