"""chains.csv_safe: spreadsheet-safe CSV cells (pure, no database)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.csv_safe import csv_lines, escape_cell


@pytest.mark.parametrize("raw,out", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"), ("", ""),
])
def test_it_escapes_formula_starts(raw, out):
    assert escape_cell(raw) == out


def test_it_keeps_numbers_numeric():
    assert escape_cell(-2) == -2 and escape_cell(1.5) == 1.5 and escape_cell(Decimal("-1")) == -1
    assert escape_cell(None) == "" and escape_cell(True) == "true"


def test_it_quotes_commas_quotes_and_newlines():
    text = "".join(csv_lines(["a", "b"], [["x,y", 'say "hi"\nthere']]))
    assert text == 'a,b\r\nx,y,"say ""hi""\nthere"\r\n'.replace("x,y,", '"x,y",')


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_it_round_trips_through_a_csv_reader(cells):
    text = "".join(csv_lines([f"c{i}" for i in range(len(cells))], [cells]))
    row = list(csv.reader(io.StringIO(text, newline="")))[1]
    for got, want in zip(row, cells, strict=True):
        assert got == (("'" + want) if want[:1] in ("=", "+", "-", "@", "\t", "\r") else want)
