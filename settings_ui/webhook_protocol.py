"""Webhook protocol rules as plain Python (no Django): patterns, signing, retry schedule.

Signing follows Standard Webhooks: the secret is `whsec_` + base64(key bytes), the HMAC-SHA256
key is the decoded bytes, the signed content is "<id>.<timestamp>.<body>" and the header value
is "v1,<base64 signature>".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

SECRET_PREFIX = "whsec_"
EVENT_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_-]*(\.[a-z0-9_*-]+)*\*?)$")

# Attempt k (0-based) happens SCHEDULE[k] seconds after attempt k-1 (attempt 0 at once).
SCHEDULE = (0, 5, 30, 120, 600, 3600, 14400)
JITTER = 0.20


def event_matches(patterns: list[str], name: str) -> bool:
    """`*` matches all; `chain.*` (any pattern ending in `*`) is a prefix; else exact."""
    for p in patterns:
        if p == "*" or p == name or (p.endswith("*") and name.startswith(p[:-1])):
            return True
    return False


def valid_pattern(p: str) -> bool:
    return bool(EVENT_PATTERN.match(p)) and ("*" not in p[:-1])


def generate_secret(nbytes: int = 24) -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("must start with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (ValueError, base64.binascii.Error):
        raise ValueError("must be whsec_ followed by base64") from None
    if not 16 <= len(key) <= 64:
        raise ValueError("the key must be 16 to 64 bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_delay(
    attempt: int, *, rng: Callable[[], float] = random.random, retry_after: float | None = None
) -> float | None:
    """Seconds to wait before attempt number `attempt` (1-based retry), or None when the
    schedule is exhausted. ±20 % jitter; a Retry-After is honoured but kept between the
    scheduled delay and twice it."""
    if attempt >= len(SCHEDULE):
        return None
    scheduled = SCHEDULE[attempt]
    if retry_after is not None:
        return float(min(max(retry_after, scheduled), 2 * scheduled))
    return scheduled * (1 + JITTER * (2 * rng() - 1))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
