"""Personas and shared fixtures: alice (staff), bob (logged in, not staff), anonymous."""

from __future__ import annotations

import os

import pytest
from django.test import Client
from rest_framework.test import APIClient

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls there
# unless told that the caller knows it is synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", "alice@example.com", "alice-pass-123", is_staff=True
    )


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-pass-123")


@pytest.fixture
def anon_client():
    return Client()


@pytest.fixture
def alice_client(alice):
    c = Client()
    c.force_login(alice)
    return c


@pytest.fixture
def bob_client(bob):
    c = Client()
    c.force_login(bob)
    return c


@pytest.fixture
def api(alice):
    """API client logged in as staff (session auth)."""
    c = APIClient()
    c.force_login(alice)
    return c


@pytest.fixture
def bob_api(bob):
    c = APIClient()
    c.force_login(bob)
    return c


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def alice_token(alice):
    from settings_ui.models import ApiToken

    _, raw = ApiToken.issue(alice, "tests")
    return raw


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    has_redis = bool(os.environ.get("REDIS_URL"))
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://…)"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis (REDIS_URL=redis://…)"))


pytest_plugins = ["tests.fixtures.celery_worker", "tests.fixtures.browser"]
