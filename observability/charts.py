"""Inline SVG charts drawn on the server (no chart library, no script; no Django import).

Every chart is an <svg role="img"> with a <title> and <desc>; every bar or point carries its own
<title> (the browser's tooltip) and text is escaped, since route keys come from URL patterns.
Colours come from CSS classes in operator.css (CSP forbids style attributes).
"""

from __future__ import annotations

from html import escape

WIDTH = 720
SERIES_WIDTH = 540
PERCENTILE_NAMES = ("p50", "p95", "p99")


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f} %"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    return f"{value:,.2f} {unit}".rstrip()


def _short(label: str, limit: int = 38) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _open(chart_id: str, title: str, desc: str, height: int, width: int = WIDTH) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg class="chart" id="{cid}" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{cid}-title {cid}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
        # The visible heading (the <title> above is for assistive technology and tooltips).
        f'<text class="chart-title" x="4" y="16" aria-hidden="true">{escape(title)}</text>',
    ]


def percentile_bars(rows: list[tuple[str, float, float, float]], *, chart_id: str,
                    title: str = "Latency per route (p50, p95, p99)") -> str:
    """One group per route (label, p50, p95, p99): three horizontal bars, one per percentile."""
    label_w, value_w, bar_h, gap = 290, 70, 8, 10
    group_h = 3 * bar_h + gap
    top = 52
    height = top + group_h * max(len(rows), 1) + 6
    plot_w = WIDTH - label_w - value_w
    top_value = max((max(r[1:]) for r in rows), default=0.0) or 1.0
    out = _open(chart_id, title, f"{len(rows)} routes; bar length is latency in milliseconds.",
                height)
    # Legend.
    for k, name in enumerate(PERCENTILE_NAMES):
        x = label_w + k * 70
        out.append(f'<rect class="bar {name}" x="{x}" y="28" width="10" height="10"/>')
        out.append(f'<text class="legend" x="{x + 14}" y="37">{name}</text>')
    if not rows:
        out.append(f'<text class="empty" x="{label_w}" y="{top + 14}">No requests</text>')
    for i, (label, *values) in enumerate(rows):
        y0 = top + i * group_h
        out.append(f'<g class="route" data-route="{escape(label)}">')
        out.append(
            f'<text class="label" x="{label_w - 8}" y="{y0 + 1.5 * bar_h + 4}" '
            f'text-anchor="end"><title>{escape(label)}</title>{escape(_short(label))}</text>'
        )
        for k, (name, value) in enumerate(zip(PERCENTILE_NAMES, values, strict=True)):
            y = y0 + k * bar_h
            w = max(value / top_value * plot_w, 1.0)
            tip = f"{label} {name}: {_fmt(value, 'ms')}"
            out.append(
                f'<rect class="bar {name}" x="{label_w}" y="{y}" width="{w:.1f}" '
                f'height="{bar_h - 1}"><title>{escape(tip)}</title></rect>'
            )
        out.append(
            f'<text class="value" x="{label_w + plot_w + 6}" y="{y0 + 1.5 * bar_h + 4}">'
            f'{escape(_fmt(values[2], "ms"))}</text>'
        )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def time_series(points: list[tuple[str, float | None]], *, chart_id: str, title: str, unit: str,
                kind: str = "bars") -> str:
    """Values over time as bars or a line; points are (x label, value); unit 'ms', 'req/s', '%'.

    A None value (no requests in that slot) draws nothing; a line breaks there.
    """
    width, height, left, right, top, bottom = SERIES_WIDTH, 190, 66, 10, 34, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(points), 1)
    top_value = max((v for _, v in points if v is not None), default=0.0) or (
        0.01 if unit == "%" else 1.0
    )
    out = _open(chart_id, title, f"{len(points)} points; y axis in {unit}.", height, width)
    base = top + plot_h
    out.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>')
    out.append(
        f'<text class="tick" x="{left - 6}" y="{top + 8}" text-anchor="end">'
        f"{escape(_fmt(top_value, unit))}</text>"
    )
    out.append(f'<text class="tick" x="{left - 6}" y="{base}" text-anchor="end">0</text>')
    step = plot_w / n
    segments: list[list[str]] = [[]]
    marks = []
    for i, (label, value) in enumerate(points):
        x = left + i * step
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        h = value / top_value * plot_h
        tip = escape(f"{label}: {_fmt(value, unit)}")
        if kind == "bars":
            marks.append(
                f'<rect class="bar series" x="{x + step * 0.1:.1f}" y="{base - h:.1f}" '
                f'width="{max(step * 0.8, 1):.1f}" height="{h:.1f}"><title>{tip}</title></rect>'
            )
        else:
            cx = x + step / 2
            segments[-1].append(f"{cx:.1f},{base - h:.1f}")
            marks.append(
                f'<circle class="point" cx="{cx:.1f}" cy="{base - h:.1f}" r="2.5">'
                f"<title>{tip}</title></circle>"
            )
    if kind != "bars":
        out += [f'<polyline class="line" points="{" ".join(seg)}"/>' for seg in segments if seg]
    out += marks
    # x labels: first, middle, last.
    last = len(points) - 1
    for i in sorted({0, last // 2, last}):
        if 0 <= i <= last:
            x = left + i * step + step / 2
            anchor = "start" if i == 0 and last else "end" if i == last and last else "middle"
            x = left if anchor == "start" else width - right if anchor == "end" else x
            out.append(
                f'<text class="tick" x="{x:.1f}" y="{height - 9}" text-anchor="{anchor}">'
                f"{escape(points[i][0])}</text>"
            )
    out.append("</svg>")
    return "\n".join(out)
