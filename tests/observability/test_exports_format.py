"""The pure export encoders: CSV quoting and formula escaping, JSON, JSONL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability import exports


@pytest.mark.parametrize("raw,cell", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-2", "'-2"), ("@cmd", "'@cmd"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"),
    (None, ""), (-5, -5), (1.5, 1.5), (True, "true"),
    ({"k": "=1"}, '{"k":"=1"}'), ([1, 2], "[1,2]"),
    (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05Z"),
])
def test_it_escapes_cells(raw, cell):
    assert exports.escape_cell(raw) == cell


def test_it_quotes_csv_per_rfc4180():
    rows = [("a,b", 'say "hi"', "line1\nline2"), ("=HYPERLINK(\"x\")", None, 3)]
    text = "".join(exports.csv_chunks(["x", "y", "z"], rows))
    assert text.startswith("x,y,z\r\n")
    assert '"a,b","say ""hi""","line1\nline2"\r\n' in text
    back = list(csv.reader(io.StringIO(text)))
    assert back[1] == ["a,b", 'say "hi"', "line1\nline2"]
    assert back[2] == ["'=HYPERLINK(\"x\")", "", "3"]


def test_it_writes_only_the_header_for_no_rows():
    assert "".join(exports.csv_chunks(["a", "b"], [])) == "a,b\r\n"
    assert "".join(exports.json_chunks([])) == "[]\n"
    assert "".join(exports.jsonl_chunks([])) == ""


def test_it_writes_json_and_jsonl():
    rows = [{"a": 1, "t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, {"a": 2, "t": None}]
    assert json.loads("".join(exports.json_chunks(rows, per_chunk=1))) == [
        {"a": 1, "t": "2026-01-01T00:00:00Z"}, {"a": 2, "t": None}]
    lines = "".join(exports.jsonl_chunks(rows)).splitlines()
    assert [json.loads(x)["a"] for x in lines] == [1, 2]


def test_it_streams_in_chunks():
    rows = ((i,) for i in range(1200))
    chunks = list(exports.csv_chunks(["i"], rows, per_chunk=500))
    assert len(chunks) == 4  # header + 500 + 500 + 200


@pytest.mark.parametrize("raw,fmt", [(None, "json"), ("", "json"), ("CSV", "csv"), ("jsonl", "jsonl")])
def test_it_parses_formats(raw, fmt):
    assert exports.parse_format(raw) == fmt


def test_it_rejects_unknown_formats():
    with pytest.raises(ValueError):
        exports.parse_format("xlsx")


def test_it_names_files_with_the_time():
    assert exports.filename("audit", "jsonl", dt.datetime(2026, 11, 25, 16, 5, 9)) == "audit-20261125-160509.jsonl"


@given(st.lists(st.lists(st.text(), min_size=3, max_size=3), max_size=20))
def test_it_round_trips_any_text_and_never_leaves_a_formula(rows):
    text = "".join(exports.csv_chunks(["a", "b", "c"], rows, per_chunk=7))
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert back[0] == ["a", "b", "c"] and len(back) == len(rows) + 1
    for raw, cells in zip(rows, back[1:], strict=True):
        for value, cell in zip(raw, cells, strict=True):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
            assert cell == ("'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value)
