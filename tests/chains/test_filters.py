"""ChainFilter: one parameter per test, asserting a count (shared by API and page)."""

from __future__ import annotations

import pytest

from chains.filters import ChainFilter
from chains.models import Chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def chains(make_chain):
    make_chain(task="Fix login bug", status="running", model="opus", project_dir="/srv/a")
    make_chain(task="Write login docs", status="complete", model="sonnet", project_dir="/srv/a")
    make_chain(task="Tune the cache", status="failed", model="haiku", project_dir="/srv/b")
    return Chain.objects.all()


def _count(params) -> int:
    f = ChainFilter(params, queryset=Chain.objects.all())
    assert f.is_valid(), f.errors
    return f.qs.count()


def test_it_filters_by_q(chains):
    assert _count({"q": "login"}) == 2


def test_it_ignores_a_blank_q(chains):
    assert _count({"q": "  "}) == 3


def test_it_matches_q_against_the_id(chains):
    c = Chain.objects.get(task="Tune the cache")
    assert _count({"q": str(c.id)[-6:]}) == 1


def test_it_filters_by_status(chains):
    assert _count({"status": "failed"}) == 1


def test_it_filters_by_project(chains):
    assert _count({"project": "/srv/a"}) == 2


def test_it_filters_by_model(chains):
    assert _count({"model": "haiku"}) == 1


def test_it_orders_by_sessions(chains):
    c = Chain.objects.get(task="Tune the cache")
    Chain.objects.filter(pk=c.pk).update(session_count=4)
    f = ChainFilter({"ordering": "-sessions"}, queryset=Chain.objects.all())
    assert f.is_valid() and f.qs.first() == c


def test_it_is_invalid_for_an_unknown_status(chains):
    assert not ChainFilter({"status": "nope"}, queryset=Chain.objects.all()).is_valid()


def test_it_normalises_the_project_path(chains):
    assert _count({"project": "\\srv\\a\\"}) == 2
