"""Pure webhook rules: patterns, Standard Webhooks signing, retry schedule, Retry-After."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from settings_ui.webhook_protocol import (
    SCHEDULE,
    event_matches,
    generate_secret,
    parse_retry_after,
    retry_delay,
    secret_key,
    sign,
    valid_pattern,
)


@pytest.mark.parametrize("patterns,name,expected", [
    (["*"], "chain.failed", True),
    (["chain.failed"], "chain.failed", True),
    (["chain.failed"], "chain.failedx", False),
    (["chain.*"], "chain.created", True),
    (["chain.*"], "task.created", False),
    (["task.*", "chain.failed"], "chain.failed", True),
    ([], "chain.failed", False),
])
def test_it_matches_event_patterns(patterns, name, expected):
    assert event_matches(patterns, name) is expected


@pytest.mark.parametrize("p,ok", [
    ("*", True), ("chain.*", True), ("chain.failed", True), ("chain*", True),
    ("", False), ("chain.*.x", False), ("*.failed", False), ("Chain Failed", False), ("a,b", False),
])
def test_it_validates_patterns(p, ok):
    assert valid_pattern(p) is ok


def test_a_signature_verifies_with_the_standardwebhooks_package():
    secret = generate_secret()
    body = b'{"event":"chain.failed"}'
    ts = int(datetime.now(UTC).timestamp())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(ts),
               "webhook-signature": sign(secret, "msg_1", ts, body)}
    assert StandardWebhook(secret).verify(body, headers) == {"event": "chain.failed"}


def test_the_hmac_key_is_the_decoded_secret_bytes():
    key = b"k" * 24
    assert secret_key("whsec_" + base64.b64encode(key).decode()) == key
    for bad in ["nope", "whsec_***", "whsec_" + base64.b64encode(b"short").decode()]:
        with pytest.raises(ValueError):
            secret_key(bad)


def test_the_schedule_has_jitter_within_20_percent():
    assert SCHEDULE == (0, 5, 30, 120, 600, 3600, 14400)
    for attempt in range(1, len(SCHEDULE)):
        assert retry_delay(attempt, rng=lambda: 0.0) == pytest.approx(SCHEDULE[attempt] * 0.8)
        assert retry_delay(attempt, rng=lambda: 1.0) == pytest.approx(SCHEDULE[attempt] * 1.2)
        assert retry_delay(attempt, rng=lambda: 0.5) == pytest.approx(SCHEDULE[attempt])
    assert retry_delay(len(SCHEDULE)) is None


def test_retry_after_is_kept_between_the_scheduled_delay_and_twice_it():
    assert retry_delay(2, retry_after=1) == 30  # never sooner than scheduled
    assert retry_delay(2, retry_after=45) == 45
    assert retry_delay(2, retry_after=3600) == 60  # never later than twice


def test_it_parses_retry_after_seconds_and_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:00 GMT", now) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
