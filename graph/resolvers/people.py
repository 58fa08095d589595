"""staff, units and the reference lists."""

from __future__ import annotations

import strawberry

from geo import reference
from geo.record import parse_uuid
from graph.context import Info
from graph.types import Category, Indicator, Staff, Unit


async def get_staff(info: Info, id: strawberry.ID) -> Staff | None:
    """Anyone allowed may look a staff member up; NIP and name are guarded on the type."""
    row = await info.context.loaders.staff.load(parse_uuid(id, "id"))
    return Staff(row=row) if row else None


async def list_units(info: Info) -> list[Unit]:
    async with info.context.db() as conn:
        rows = await reference.units(conn)
    for r in rows:
        info.context.loaders.unit.prime(r.id, r)
    return [Unit(row=r) for r in rows]


async def list_categories(info: Info) -> list[Category]:
    async with info.context.db() as conn:
        rows = await reference.categories(conn)
        return [Category(code=c, name=n, unit_code=u) for c, n, u in rows]


async def list_indicators(info: Info) -> list[Indicator]:
    async with info.context.db() as conn:
        rows = await reference.indicators(conn)
        return [Indicator(code=c, name=n, unit_code=u) for c, n, u in rows]
