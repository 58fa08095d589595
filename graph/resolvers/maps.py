"""Map outputs: the choropleth FeatureCollection, and the last day a map has activity on."""

from __future__ import annotations

import datetime as dt

from geo.choropleth import coverage_map as build_coverage_map
from geo.recency import last_activity_date as newest_day
from geo.shapes import FINEST, band_for_zoom
from graph import permissions
from graph.context import Info
from graph.inputs import ActivityFilterInput, PeriodInput, checked_filter
from graph.scalars import GeoJSON
from graph.types import AreaLevel


async def coverage_map(info: Info, level: AreaLevel, period: PeriodInput,
                       filter: ActivityFilterInput | None = None,
                       zoom: int | None = None) -> GeoJSON:
    """One Feature per area of the level, with the figures of `coverage`; PostgreSQL writes it."""
    ctx = info.context
    p = period.checked(ctx.settings)
    f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings), level.value)
    band = FINEST if zoom is None else band_for_zoom(zoom)
    async with ctx.db() as conn:
        return GeoJSON(await build_coverage_map(conn, level.value, p, f, band,
                                                permissions.min_staff(ctx, f)))


async def last_activity_date(info: Info, filter: ActivityFilterInput | None = None
                             ) -> dt.date | None:
    """The WIB day of the newest activity the filter counts, in any period (its own ignored)."""
    ctx = info.context
    f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings), "CITY")
    async with ctx.db() as conn:
        return await newest_day(conn, f)
