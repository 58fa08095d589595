"""Unit offices: the point from which a person's field work is measured (geo.team)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.errors import NotFound
from geo.people import UNIT_COLUMNS, UnitRow


async def set_office(conn: AsyncConnection, unit_code: str, office: Point | None) -> UnitRow:
    """Place (or, with None, forget) the office of unit `unit_code`; commits."""
    row: tuple[Any, ...] | None = (await conn.execute(text(f"""
        UPDATE units SET office = ST_SetSRID(ST_MakePoint(:x, :y), 4326)
        WHERE code = :c RETURNING {UNIT_COLUMNS}"""),
        {"c": unit_code, "x": office.x if office else None,
         "y": office.y if office else None})).first()
    if row is None:
        raise NotFound(f"unknown unit code {unit_code!r:.60}")
    await conn.commit()
    return UnitRow(*row)
