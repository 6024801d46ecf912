"""Field rules shared by the API serializers and the page forms (Django ValidationError, which
DRF turns into a 400 naming the field)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from operator_site.lib.http import UnsafeURL, check_url

from .webhook_protocol import secret_key, valid_pattern


def validate_webhook_url(value: str) -> str:
    value = value.strip()
    try:
        check_url(value)
    except UnsafeURL as e:
        raise ValidationError(str(e)) from None
    return value


def validate_event_patterns(value) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValidationError("Give at least one event pattern (*, chain.*, chain.failed).")
    patterns = []
    for p in value:
        if not isinstance(p, str) or not valid_pattern(p.strip()):
            raise ValidationError(
                f"{str(p)[:64]!r} is not an event pattern: use *, an event name like "
                "chain.failed, or a prefix ending in * like chain.*"
            )
        if p.strip() not in patterns:
            patterns.append(p.strip())
    if len(patterns) > 50:
        raise ValidationError("At most 50 patterns.")
    return patterns


def validate_signing_secret(value: str | None) -> str | None:
    if value:
        try:
            secret_key(value)
        except ValueError as e:
            raise ValidationError(f"Signing secret {e} (e.g. whsec_ + base64 of 24 random bytes).") from None
    return value or None
