"""The request being served, for code deep in the call stack (emit() takes actor and request id)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    user: object | None = None


current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "operator_request", default=None
)
