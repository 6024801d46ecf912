"""The /performance/ page and its self-refreshing fragment /views/performance-summary/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from operator_site.lib.views import staff_required

from . import charts, performance

# Sortable columns of the route table: ?sort=<key> ascending, ?sort=-<key> descending.
SORT_KEYS = ["route", "count", "rps", "mean", "p50", "p95", "p99", "max", "error_rate", "last_seen"]
DEFAULT_SORT = "-p95"


def _sort(routes: list[dict], sort: str) -> list[dict]:
    key = sort.lstrip("-")
    present = [r for r in routes if r[key] is not None]
    missing = [r for r in routes if r[key] is None]
    return sorted(present, key=lambda r: (r[key], r["route"]), reverse=sort.startswith("-")) + missing


def _context(request: HttpRequest) -> dict:
    window = request.GET.get("window", "")
    if window not in performance.WINDOWS:
        window = performance.DEFAULT_WINDOW
    sort = request.GET.get("sort", "")
    if sort.lstrip("-") not in SORT_KEYS:
        sort = DEFAULT_SORT
    report = performance.load_report(window)
    for stats in (report.summary, *report.routes):
        stats["error_pct"] = stats["error_rate"] * 100
    fmt = "%a %H:%M" if window == "7d" else "%H:%M"
    series = report.series
    columns = []
    for key in SORT_KEYS:
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        # A first click sorts numbers high-to-low and names A–Z; a second click flips it.
        if current:
            next_sort = key if descending else f"-{key}"
        else:
            next_sort = key if key == "route" else f"-{key}"
        columns.append({
            "key": key, "next": next_sort,
            "aria": ("descending" if descending else "ascending") if current else "",
        })
    ctx = {
        "window": window,
        "windows": list(performance.WINDOWS),
        "sort": sort,
        "columns": columns,
        "summary": report.summary,
        "routes": _sort(report.routes, sort),
        "has_traffic": bool(report.routes),
        "has_any_data": bool(report.routes) or performance.has_any_data(),
    }
    if report.routes:
        ctx["charts"] = {
            "percentiles": mark_safe(charts.percentile_bars(
                [(r["route"], r["p50"], r["p95"], r["p99"]) for r in report.routes[:15]],
                chart_id="chart-percentiles",
                title="Latency per route: p50, p95, p99 (15 slowest by p95)",
            )),
            "p95": mark_safe(charts.time_series(
                [(s["start"].strftime(fmt), s["p95"] if s["count"] else None) for s in series],
                chart_id="chart-p95", title="p95 latency over the window", unit="ms", kind="line",
            )),
            "rate": mark_safe(charts.time_series(
                [(s["start"].strftime(fmt), s["rps"]) for s in series],
                chart_id="chart-rate", title="Request rate over the window", unit="req/s",
            )),
            "errors": mark_safe(charts.time_series(
                [(s["start"].strftime(fmt), s["error_rate"] if s["count"] else None) for s in series],
                chart_id="chart-errors", title="Error rate (5xx share) over the window", unit="%",
            )),
        }
    return ctx


@staff_required
def performance_page(request: HttpRequest) -> HttpResponse:
    return render(request, "observability/performance.html", _context(request))


@staff_required
def performance_summary(request: HttpRequest) -> HttpResponse:
    return render(request, "observability/_performance_summary.html", _context(request))
