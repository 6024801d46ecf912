"""emit(): the one path for audit, webhooks and the timeline.

Producers call emit() inside the transaction that makes the change, so the audit row (and any
outbox rows written by subscribers) commit or roll back with it. observability imports no other
app: apps subscribe at start (AppConfig.ready) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import models
from django.utils import timezone

from . import context
from .models import AuditEvent

logger = logging.getLogger(__name__)

Subscriber = Callable[[AuditEvent], None]
_subscribers: list[Subscriber] = []


def subscribe(fn: Subscriber) -> Subscriber:
    """Call fn(event) for every emitted event, inside the emitting transaction.

    A subscriber that raises aborts the emitting transaction: subscribers write rows (an
    outbox), they do not do slow or fallible I/O.
    """
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


def unsubscribe(fn: Subscriber) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)


def _actor_name(actor: Any) -> str:
    if actor is None:
        ctx = context.current.get()
        if ctx is None or ctx.user is None:
            return "system"
        actor = ctx.user.resolve() if hasattr(ctx.user, "resolve") else ctx.user
        if actor is None or not getattr(actor, "is_authenticated", False):
            return "anonymous" if actor is not None else "system"
    if isinstance(actor, str):
        return actor
    return getattr(actor, "get_username", lambda: str(actor))()


def target_of(target: Any) -> tuple[str, str]:
    """(target_type, target_id) for a model instance, a (type, id) pair or None.

    The type is the lower-cased model name ("chain", "task", "webhook"); the id is the public
    one used in URLs: the model's `audit_id` attribute when it defines one (e.g. a secret's
    name), else its `code` field, else the primary key.
    """
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        kind, ident = target
        return str(kind), str(ident)
    if isinstance(target, models.Model):
        ident = getattr(target, "audit_id", None) or getattr(target, "code", None) or target.pk
        return target._meta.model_name, str(ident)
    raise TypeError(f"emit(): cannot name a target of type {type(target).__name__}")


def emit(
    name: str,
    *,
    actor: Any = None,
    target: Any = None,
    data: dict | None = None,
) -> AuditEvent:
    """Record event `name` (area.verb) and hand it to subscribers; returns the AuditEvent."""
    target_type, target_id = target_of(target)
    ctx = context.current.get()
    event = AuditEvent.objects.create(
        ts=timezone.now(),
        action=name,
        actor=_actor_name(actor)[:150],
        target_type=target_type,
        target_id=target_id,
        data=data or {},
        request_id=ctx.request_id if ctx else "",
    )
    for fn in list(_subscribers):
        fn(event)
    return event
