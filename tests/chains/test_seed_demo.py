"""manage.py seed_demo."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from chains.models import Chain, Session

pytestmark = pytest.mark.django_db


def test_it_fills_an_empty_install_with_consistent_chains():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "Created" in out.getvalue()
    assert Chain.objects.count() >= 36 and Session.objects.exists()
    statuses = set(Chain.objects.values_list("status", flat=True))
    assert {"running", "complete", "failed"} <= statuses
    assert Chain.objects.filter(restarted_from__isnull=False).exists()
    for c in Chain.objects.all():
        sessions = list(c.sessions.all())
        assert c.session_count == len(sessions)
        assert c.cost_usd == sum((s.cost_usd for s in sessions), start=0)


def test_it_does_nothing_when_chains_exist_unless_forced(make_chain):
    make_chain()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "nothing added" in out.getvalue() and Chain.objects.count() == 1
    call_command("seed_demo", "--force", "--count", "3", stdout=io.StringIO())
    assert Chain.objects.count() >= 4
