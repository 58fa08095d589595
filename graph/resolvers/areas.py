"""area / areas / coverage: the map's areas and their figures."""

from __future__ import annotations

from geo import areas
from geo.coverage import coverage as aggregate
from geo.filters import parse_bbox
from graph import permissions
from graph.context import Info
from graph.inputs import ActivityFilterInput, PeriodInput, checked_filter
from graph.types import Area, AreaCoverage, AreaLevel


async def get_area(info: Info, code: str) -> Area | None:
    row = await info.context.loaders.area_by_code.load(code)
    return Area(row=row) if row else None


async def list_areas(info: Info, level: AreaLevel | None = None, parent_code: str | None = None,
                     bbox: list[float] | None = None) -> list[Area]:
    box = parse_bbox(bbox) if bbox is not None else None
    async with info.context.db() as conn:
        rows = await areas.list_areas(conn, level.value if level else None, parent_code, box)
    info.context.loaders.prime_areas(rows)
    return [Area(row=r) for r in rows]


async def coverage(
    info: Info, level: AreaLevel, period: PeriodInput,
    filter: ActivityFilterInput | None = None,
    compare_to: PeriodInput | None = None,
) -> list[AreaCoverage]:
    """One row for every area of the level (zeros included), by code."""
    ctx = info.context
    p = period.checked(ctx.settings)
    before = compare_to.checked(ctx.settings) if compare_to is not None else None
    f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings), level.value)
    async with ctx.db() as conn:
        rows = await aggregate(conn, level.value, p, f)
        previous = {r.area_id: r for r in await aggregate(conn, level.value, before, f)} \
            if before is not None else {}
    for r in rows:
        ctx.loaders.coverage.prime((r.area_id, level.value, p, f), r)
    k = permissions.min_staff(ctx, f)
    return [AreaCoverage(data=r, level=level.value, period=p, filter=f, min_staff=k,
                         compared=previous.get(r.area_id), compare_period=before)
            for r in rows]
