"""Where an audit target lives in the UI. Apps register resolvers at start (AppConfig.ready).

A resolver takes a list of target ids and returns {id: url} for those that still exist; ids it
leaves out are shown as deleted. Batching keeps the timeline at one query per target type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Resolver = Callable[[list[str]], dict[str, str]]
_resolvers: dict[str, Resolver] = {}


def register(target_type: str, resolver: Resolver) -> None:
    _resolvers[target_type] = resolver


def resolve(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """{(type, id): url or None}. None means the type has a page but the object is gone;
    types nobody registered are left out (plain text, not "deleted")."""
    by_type: dict[str, set[str]] = {}
    for kind, ident in pairs:
        if kind and ident and kind in _resolvers:
            by_type.setdefault(kind, set()).add(ident)
    out: dict[tuple[str, str], str | None] = {}
    for kind, ids in by_type.items():
        found = _resolvers[kind](sorted(ids))
        for ident in ids:
            out[(kind, ident)] = found.get(ident)
    return out
