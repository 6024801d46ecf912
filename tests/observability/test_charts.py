from __future__ import annotations

import xml.etree.ElementTree as ET

from observability import charts

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on malformed markup, e.g. an unescaped label


def test_it_draws_one_bar_per_route_and_percentile():
    rows = [("GET /a/", 1.0, 5.0, 9.0), ("POST /b/<uuid:pk>/", 2.0, 3.0, 4.0),
            ("GET <unmatched>", 0.5, 0.7, 0.9)]
    root = _parse(charts.percentile_bars(rows, chart_id="c1"))
    assert root.get("role") == "img"
    assert root.find("s:title", NS).text == "Latency per route (p50, p95, p99)"
    groups = root.findall("s:g[@class='route']", NS)
    assert [g.get("data-route") for g in groups] == [r[0] for r in rows]
    for g, row in zip(groups, rows, strict=True):
        bars = g.findall("s:rect", NS)
        assert [b.get("class") for b in bars] == ["bar p50", "bar p95", "bar p99"]
        assert g.find("s:text[@class='label']", NS).itertext().__next__() == row[0]
        titles = [b.find("s:title", NS).text for b in bars]
        assert titles[2].startswith(f"{row[0]} p99:")
    # Lengths are proportional: the largest p99 spans the whole plot, others less.
    widths = [float(b.get("width")) for b in root.iter("{http://www.w3.org/2000/svg}rect")
              if b.get("class") == "bar p99" and b.find("s:title", NS) is not None]
    assert widths[0] == max(widths) and widths[1] < widths[0]


def test_it_escapes_labels():
    evil = 'GET /x/<script>alert("1")</script>&'
    svg = charts.percentile_bars([(evil, 1.0, 2.0, 3.0)], chart_id='c"2',
                                 title="<b>title</b>")
    assert "<script>" not in svg and "<b>" not in svg
    root = _parse(svg)
    assert root.find("s:g", NS) is not None
    assert root.find("s:g[@class='route']", NS).get("data-route") == evil
    assert root.find("s:title", NS).text == "<b>title</b>"
    series = charts.time_series([("<i>", 1.0)], chart_id="c3", title="a & b", unit="ms")
    assert "<i>" not in series
    assert _parse(series).find("s:title", NS).text == "a & b"


def test_it_draws_time_series_as_bars_or_a_line():
    points = [("12:00", 1.0), ("12:01", 0.0), ("12:02", 4.0)]
    bars = _parse(charts.time_series(points, chart_id="r", title="Rate", unit="req/s"))
    rects = bars.findall("s:rect", NS)
    assert len(rects) == 3
    assert [r.find("s:title", NS).text for r in rects][0] == "12:00: 1.00 req/s"
    line = _parse(charts.time_series(points, chart_id="p", title="p95", unit="ms", kind="line"))
    assert len(line.findall("s:circle", NS)) == 3
    assert len(line.find("s:polyline", NS).get("points").split()) == 3
    ticks = [t.text for t in line.findall("s:text[@class='tick']", NS)]
    assert "12:00" in ticks and "12:02" in ticks


def test_it_draws_an_empty_chart():
    root = _parse(charts.percentile_bars([], chart_id="e"))
    assert root.findall("s:g[@class='route']", NS) == []
    assert _parse(charts.time_series([], chart_id="t", title="x", unit="%")) is not None


def test_it_leaves_gaps_for_slots_without_requests():
    points = [("a", 1.0), ("b", None), ("c", 2.0), ("d", 3.0)]
    line = _parse(charts.time_series(points, chart_id="g", title="p95", unit="ms", kind="line"))
    assert len(line.findall("s:circle", NS)) == 3
    assert [len(p.get("points").split()) for p in line.findall("s:polyline", NS)] == [1, 2]
    bars = _parse(charts.time_series(points, chart_id="h", title="err", unit="%"))
    assert len(bars.findall("s:rect", NS)) == 3
