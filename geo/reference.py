"""Reference lists a front end needs to build its menus: categories, indicators, units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.people import UNIT_COLUMNS, UnitRow


async def categories(conn: AsyncConnection) -> list[tuple[str, str, str]]:
    rows = await conn.execute(text("""
        SELECT c.code, c.name, u.code FROM service_categories c JOIN units u ON u.id = c.unit_id
        ORDER BY c.code"""))
    return list(rows.all())


async def indicators(conn: AsyncConnection) -> list[tuple[str, str, str]]:
    rows = await conn.execute(text("""
        SELECT i.code, i.name, u.code FROM indicators i JOIN units u ON u.id = i.unit_id
        ORDER BY i.code"""))
    return list(rows.all())


async def units(conn: AsyncConnection) -> list[UnitRow]:
    rows = await conn.execute(
        text(f"SELECT {UNIT_COLUMNS} FROM units ORDER BY code"))
    found: Sequence[tuple[Any, ...]] = rows.all()
    return [UnitRow(*r) for r in found]
