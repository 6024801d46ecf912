from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from observability.histogram import Histogram, bucket_index, bucket_value, exact_quantile

QS = [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]
durations = st.floats(min_value=0.001, max_value=1e7, allow_nan=False, allow_infinity=False)


def _assert_close(hist: Histogram, values: list[float]) -> None:
    for q in QS:
        exact = exact_quantile(values, q)
        got = hist.quantile(q)
        assert abs(got - exact) <= 0.01 * exact, (q, exact, got)


@settings(max_examples=300, deadline=None)
@given(st.lists(durations, min_size=1, max_size=400))
def test_it_is_within_one_percent_of_exact_percentiles(values):
    _assert_close(Histogram.of(values), values)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-700, max_value=1200), st.integers(min_value=1, max_value=50))
def test_it_is_accurate_on_bucket_edges(index, repeat):
    # Adversarial: values exactly on, just under and just over bucket boundaries.
    edge = (1 + 0.009) / (1 - 0.009)
    base = edge**index
    values = [base, math.nextafter(base, 0), math.nextafter(base, math.inf)] * repeat
    values = [v for v in values if v >= 0.001]
    if values:
        _assert_close(Histogram.of(values), values)


def test_it_is_accurate_on_heavy_tails_and_constant_samples():
    values = [1.0] * 9_900 + [5_000.0] * 99 + [60_000.0]
    _assert_close(Histogram.of(values), values)
    same = [42.4242] * 1000
    _assert_close(Histogram.of(same), same)
    assert Histogram.of(same).quantile(0.5) == 42.4242  # clamped to the exact min/max


@settings(max_examples=200, deadline=None)
@given(st.lists(durations, max_size=200), st.lists(durations, max_size=200))
def test_it_merges_two_processes_into_the_histogram_of_all_samples(a, b):
    merged = Histogram.of(a).merge(Histogram.of(b))
    assert merged == Histogram.of(a + b)
    if a or b:
        _assert_close(merged, a + b)


@given(st.lists(durations, min_size=1, max_size=50))
def test_it_round_trips_through_its_json_form(values):
    h = Histogram.of(values)
    assert Histogram.from_dict(h.to_dict()) == h


def test_it_answers_zero_when_empty():
    h = Histogram()
    assert h.quantile(0.99) == 0.0 and h.mean == 0.0
    assert Histogram.from_dict(h.to_dict()) == h


def test_every_bucket_value_is_within_one_percent_of_its_range():
    for i in (-300, -1, 0, 1, 17, 900):
        g = (1 + 0.009) / (1 - 0.009)
        lo, hi = g ** (i - 1), g**i
        rep = bucket_value(i)
        assert rep / hi >= 0.99 and rep / lo <= 1.01
        assert bucket_index(math.sqrt(lo * hi)) == i
