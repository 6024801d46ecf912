"""CSV cells safe to open in a spreadsheet (no formula injection). Pure: no Django import.

A text cell starting with = + - @ or a tab/carriage return is run as a formula by Excel,
LibreOffice and Google Sheets; prefixing a single quote makes it plain text (OWASP advice).
Numbers are written as numbers, so a negative amount stays numeric.
"""

from __future__ import annotations

import csv
import io
import numbers
from collections.abc import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Number):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Yield the header then one RFC 4180 line per row (\\r\\n line ends), cells escaped."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def line(cells: Iterable[object]) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow([escape_cell(c) for c in cells])
        return buf.getvalue()

    yield line(header)
    for row in rows:
        yield line(row)
