"""Streamed exports: CSV / JSON / JSONL of any registered kind, in constant memory.

The encoders at the top are plain Python (rows in, text chunks out; no Django), so they are
tested in isolation. Below them a small registry lets any app expose a kind under
/api/export/<kind>/ with one call from its AppConfig.ready():

    exports.register("tasks", tasks_queryset, ["id", "status", ("deps", lambda row: ...)])

`queryset_fn(params)` receives the request's query parameters (a QueryDict) and returns the
filtered, ordered queryset; it raises rest_framework's ValidationError ({field: [msg]}) for bad
input, which the view turns into a 400 before the first byte is streamed.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMATS = {
    # format: (content type, file extension)
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "jsonl": ("application/x-ndjson", "jsonl"),
}
DEFAULT_FORMAT = "json"
# Rows per yielded chunk: few enough to keep memory flat, many enough that the per-chunk
# overhead of the WSGI server stays small.
ROWS_PER_CHUNK = 500
# Rows fetched per database round trip (QuerySet.iterator chunk_size).
FETCH_CHUNK = 2000

# A spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- pure encoders -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-able version of one database value."""
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def escape_cell(value: Any) -> str | int | float:
    """One CSV cell: None → "", objects → compact JSON, and text that a spreadsheet would run
    as a formula gets a leading apostrophe. Numbers stay numbers (a real -5 is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return value  # money stays numeric: a real -1.50 is not a formula
    value = _plain(value)
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    value = str(value)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _batched(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_chunks(headers: Sequence[str], rows: Iterable[Sequence[Any]], per_chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    """RFC 4180 CSV (CRLF, quotes doubled, quoted when needed); header row even with no rows."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headers)
    yield buf.getvalue()
    for batch in _batched(rows, per_chunk):
        buf.seek(0)
        buf.truncate()
        writer.writerows([escape_cell(v) for v in row] for row in batch)
        yield buf.getvalue()


def _dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps({k: _plain(v) for k, v in obj.items()}, ensure_ascii=False, default=str)


def json_chunks(rows: Iterable[Mapping[str, Any]], per_chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    """A JSON array, one object per line; "[]" when there are no rows."""
    first = True
    yield "["
    for batch in _batched(rows, per_chunk):
        parts = []
        for row in batch:
            parts.append(("\n" if first else ",\n") + _dumps(row))
            first = False
        yield "".join(parts)
    yield "]\n" if first else "\n]\n"


def jsonl_chunks(rows: Iterable[Mapping[str, Any]], per_chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    """One compact JSON object per line (each line ends with \\n); empty body for no rows."""
    for batch in _batched(rows, per_chunk):
        yield "".join(_dumps(row) + "\n" for row in batch)


def encode(fmt: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Chunks of `fmt` for rows given as value tuples in `headers` order."""
    if fmt == "csv":
        return csv_chunks(headers, rows)
    dicts = (dict(zip(headers, row, strict=True)) for row in rows)
    return json_chunks(dicts) if fmt == "json" else jsonl_chunks(dicts)


def filename(kind: str, fmt: str, now: dt.datetime) -> str:
    return f"{kind}-{now:%Y%m%d-%H%M%S}.{FORMATS[fmt][1]}"


# --- registry ------------------------------------------------------------------------------

Column = str | tuple[str, Callable[[dict], Any]]


@dataclass
class ExportKind:
    """One exportable kind: how to get its rows and which columns to write."""

    name: str
    queryset_fn: Callable[[Any], Any]
    columns: list[Column]
    fetch: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return [c if isinstance(c, str) else c[0] for c in self.columns]

    def fields(self) -> list[str]:
        """Model fields to read with .values(): the plain columns plus `fetch`."""
        names = [c for c in self.columns if isinstance(c, str)]
        return names + [f for f in self.fetch if f not in names]

    def rows(self, queryset) -> Iterator[tuple]:
        """Value tuples in header order, read in chunks (constant memory)."""
        it = queryset.values(*self.fields()).iterator(chunk_size=FETCH_CHUNK)
        getters = [
            (lambda row, name=c: row[name]) if isinstance(c, str) else c[1] for c in self.columns
        ]
        for row in it:
            yield tuple(g(row) for g in getters)


_kinds: dict[str, ExportKind] = {}
# The registered names, kept sorted in place: the API schema holds this very list as an enum.
KIND_NAMES: list[str] = []


def register(kind: str, queryset_fn: Callable[[Any], Any], columns: Sequence[Column], *, fetch: Sequence[str] = ()) -> ExportKind:
    """Expose `kind` under /api/export/<kind>/. Columns are field names, or (header, fn(row))
    where row is the .values() dict of the plain columns plus the `fetch` fields."""
    entry = ExportKind(kind, queryset_fn, list(columns), list(fetch))
    _kinds[kind] = entry
    KIND_NAMES[:] = sorted(_kinds)
    return entry


def unregister(kind: str) -> None:
    _kinds.pop(kind, None)
    KIND_NAMES[:] = sorted(_kinds)


def get(kind: str) -> ExportKind | None:
    return _kinds.get(kind)


def kinds() -> list[str]:
    return sorted(_kinds)


def parse_format(raw: str | None) -> str:
    """The export format, case-insensitive, default json; ValueError names what is allowed."""
    fmt = (raw or DEFAULT_FORMAT).strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format; use one of: {', '.join(FORMATS)}.")
    return fmt


def streaming_response(entry: ExportKind, queryset, fmt: str, now: dt.datetime):
    """A StreamingHttpResponse downloading the queryset as `fmt`."""
    from django.http import StreamingHttpResponse

    content_type, _ = FORMATS[fmt]
    chunks = (c.encode() for c in encode(fmt, entry.headers, entry.rows(queryset)))
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename(entry.name, fmt, now)}"'
    response["Cache-Control"] = "no-store"
    return response
