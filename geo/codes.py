"""Codes a person types (units, service categories, indicators, areas): matched in any case, and
when unknown, refused with the closest codes or the whole list, so the next try can succeed."""

from __future__ import annotations

import difflib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.errors import NotFound

# table -> what its code is called in a message
KINDS = {"units": "unit code", "service_categories": "service category",
         "indicators": "indicator", "areas": "area code"}
LIST_AT_MOST = 20       # a longer list helps nobody: name the closest only
# The stored code equal to :c in any case; an exact match first should two differ by case only.
MATCH = "upper(code) = upper(:c) ORDER BY code = :c DESC LIMIT 1"


async def unknown(conn: AsyncConnection, table: str, code: str,
                  what: str | None = None) -> NotFound:
    """The NOT_FOUND for `code`: the closest known codes, and all of them when they are few."""
    rows = await conn.execute(text(f'SELECT code FROM "{table}" ORDER BY code'))
    known: list[str] = list(rows.scalars())
    by_upper = {k.upper(): k for k in known}
    close = [by_upper[c] for c in difflib.get_close_matches(code.upper(), by_upper, n=3)]
    message = f"unknown {what or KINDS[table]} {code!r:.60}"
    if close:
        message += f": did you mean {' or '.join(close)}?"
    if len(known) <= LIST_AT_MOST:
        message += f" Known: {', '.join(known) or 'none yet'}."
    elif table == "areas":
        message += " (Kemendagri codes look like 35.78.01.1001)"
    return NotFound(message)


async def canonical(conn: AsyncConnection, table: str, code: str) -> str:
    """The code as stored, whatever the case it was typed in."""
    found: str | None = await conn.scalar(
        text(f'SELECT code FROM "{table}" WHERE {MATCH}'), {"c": code})
    if found is None:
        raise await unknown(conn, table, code)
    return found
