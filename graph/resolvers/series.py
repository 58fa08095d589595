"""coverageSeries: coverage over time, one series per area, one point per bucket."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from itertools import groupby

import strawberry

from geo import series
from geo.anonymity import shown
from graph import permissions
from graph.context import Info
from graph.inputs import ActivityFilterInput, PeriodInput, checked_filter
from graph.types import Area, AreaLevel


@strawberry.enum(description="WIB calendar days; ISO weeks (Monday to Sunday); calendar months. "
                             "The first and last bucket are clipped to the period.")
class Bucket(Enum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@strawberry.type(description="An area's figures over one bucket: the same as `coverage` over "
                             "start..end alone.")
class SeriesPoint:
    row: strawberry.Private[series.SeriesRow]
    min_staff: strawberry.Private[int]

    @strawberry.field(description="First WIB day of the bucket (or of the period).")
    def start(self) -> dt.date:
        return self.row.start

    @strawberry.field(description="Last WIB day of the bucket (or of the period), inclusive.")
    def end(self) -> dt.date:
        return self.row.end

    @strawberry.field
    def activities(self) -> int:
        return self.row.activities

    @strawberry.field
    def citizens_served(self) -> int:
        return self.row.citizens

    @strawberry.field
    def outcomes_met(self) -> int:
        return self.row.outcomes_met

    @strawberry.field(description="Distinct staff in the bucket; null where `coverage` would "
                                  "suppress it (fewer than k staff, for planners, staff and the "
                                  "public).")
    def distinct_staff(self) -> int | None:
        return shown(self.row.staff, self.row.staff, self.min_staff)


@strawberry.type
class AreaSeries:
    area_id: strawberry.Private[int]
    points: list[SeriesPoint]

    @strawberry.field
    async def area(self, info: Info) -> Area:
        row = await info.context.loaders.area.load(self.area_id)
        assert row is not None
        return Area(row=row)


async def coverage_series(info: Info, level: AreaLevel, period: PeriodInput, bucket: Bucket,
                          filter: ActivityFilterInput | None = None) -> list[AreaSeries]:
    """One series per area of the level (or on the filter's area's path), by code."""
    ctx = info.context
    p = period.checked(ctx.settings)
    f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings), level.value)
    async with ctx.db() as conn:
        rows = await series.series(conn, level.value, p, bucket.value, f)
    k = permissions.min_staff(ctx, f)
    return [AreaSeries(area_id=area_id, points=[SeriesPoint(row=r, min_staff=k) for r in points])
            for area_id, points in groupby(rows, key=lambda r: r.area_id)]
