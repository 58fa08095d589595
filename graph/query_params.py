"""Reading a query string's parameters for the routes that take them (tiles, exports): each
given at most once, and a value that is not of its kind refused with the parameter's name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from starlette.datastructures import QueryParams

from geo.errors import BadInput


def one(query: QueryParams, name: str) -> str | None:
    values = query.getlist(name)
    if len(values) > 1:
        raise BadInput(f"query parameter {name!r} is given {len(values)} times; give it once")
    return values[0] if values else None


def day(query: QueryParams, name: str) -> date | None:
    """A WIB calendar day, or None when absent."""
    raw = one(query, name)
    try:
        return None if raw is None else date.fromisoformat(raw)
    except ValueError:
        raise BadInput(f"{name!r} must be a WIB date like 2026-11-01, got {raw!r:.30}") from None


def boolean(query: QueryParams, name: str) -> bool | None:
    raw = one(query, name)
    if raw is None or raw in ("true", "false"):
        return None if raw is None else raw == "true"
    raise BadInput(f"{name!r} must be true or false, got {raw!r:.30}")


def choice(query: QueryParams, name: str, allowed: Sequence[str], default: str | None) -> str:
    raw = one(query, name) or default
    if raw is None or raw not in allowed:
        given = "nothing" if raw is None else repr(raw[:30])
        raise BadInput(f"{name!r} must be one of {', '.join(allowed)}, got {given}")
    return raw
