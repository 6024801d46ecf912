"""bench/bench_chains_q.py runs end to end at a tiny size (its numbers are not asserted)."""

from __future__ import annotations

import pytest

from chains.models import Chain

pytestmark = pytest.mark.django_db


def test_it_measures_and_cleans_up(make_chain):
    from bench.bench_chains_q import run

    mine = make_chain(task="not a bench chain")
    rows = run(n=300, rounds=2)
    assert rows[0][0].startswith("q p50 (0k chains") and rows[1][2] == "ms"
    assert list(Chain.objects.all()) == [mine]
