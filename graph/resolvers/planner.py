"""hexbins / reach / gaps / nearestActivities: the planners' questions, and their answer types."""

from __future__ import annotations

import datetime as dt

import strawberry

from geo import nearest, planner
from geo.anonymity import shown
from geo.filters import ActivityFilter, build_where
from geo.periods import WIB
from geo.validate import check_position
from graph import permissions
from graph.context import Info
from graph.inputs import ActivityFilterInput, PeriodInput, checked_filter
from graph.scalars import GeoJSON
from graph.types import Activity, Area, AreaLevel


async def _area(info: Info, area_id: int) -> Area:
    row = await info.context.loaders.area.load(area_id)
    assert row is not None
    return Area(row=row)


@strawberry.type(description="How much of an area lies within the radius of an activity.")
class AreaReach:
    row: strawberry.Private[planner.Reach]

    @strawberry.field
    async def area(self, info: Info) -> Area:
        return await _area(info, self.row.area_id)

    @strawberry.field(description="Share of the area's land within the radius, 0..1.")
    def reached_share(self) -> float:
        return round(self.row.share, 6)

    @strawberry.field(description="reachedShare × areaKm2.")
    def reached_km2(self) -> float:
        return round(self.row.reached_m2 / 1e6, 6)

    @strawberry.field(description="Activities of the period located in the area.")
    def activities(self) -> int:
        return self.row.activities


@strawberry.type(description="An area with fewer activities in the period than asked.")
class AreaGap:
    row: strawberry.Private[planner.Gap]
    min_staff: strawberry.Private[int]

    @strawberry.field
    async def area(self, info: Info) -> Area:
        return await _area(info, self.row.area_id)

    @strawberry.field(description="Activities in the period.")
    def activities(self) -> int:
        return self.row.activities

    @strawberry.field(description="The latest activity up to the end of the period, ever; null "
                      "for planners, staff and the public where the period's activities come "
                      "from fewer than k distinct staff (the day count below remains).")
    def last_activity_at(self) -> dt.datetime | None:
        at = shown(self.row.last_at, self.row.staff, self.min_staff)
        return at.astimezone(WIB) if at is not None else None

    @strawberry.field(description="WIB days from that activity's day to the period's last day "
                      "(not to today, so a past month's report does not change); null if never.")
    def days_since_last_activity(self) -> int | None:
        return self.row.days_since


@strawberry.type
class NearestActivity:
    activity: Activity
    distance_meters: float = strawberry.field(description="On the WGS84 spheroid.")


async def hexbins(info: Info, period: PeriodInput, cell_size_meters: float,
                  filter: ActivityFilterInput | None = None) -> GeoJSON:
    ctx = info.context
    p = period.checked(ctx.settings)
    f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings))
    async with ctx.db() as conn:
        return GeoJSON(await planner.hexbins(conn, p, f, cell_size_meters,
                                             ctx.settings.hexbin_min_count,
                                             min_staff=permissions.min_staff(ctx, f)))


async def reach(info: Info, level: AreaLevel, period: PeriodInput, radius_meters: float,
                filter: ActivityFilterInput | None = None) -> list[AreaReach]:
    ctx = info.context
    p = period.checked(ctx.settings)
    f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings), level.value)
    async with ctx.db() as conn:
        rows = await planner.reach(conn, level.value, p, radius_meters, f)
    return [AreaReach(row=r) for r in rows]


async def gaps(info: Info, level: AreaLevel, period: PeriodInput,
               min_activities: int) -> list[AreaGap]:
    ctx = info.context
    p = period.checked(ctx.settings)
    f = await permissions.aggregates(ctx, None, level.value)
    async with ctx.db() as conn:
        rows = await planner.gaps(conn, level.value, p, min_activities, f)
    k = permissions.min_staff(ctx, f)
    return [AreaGap(row=r, min_staff=k) for r in rows]


async def nearest_activities(info: Info, lon: float, lat: float, limit: int,
                             filter: ActivityFilterInput | None = None) -> list[NearestActivity]:
    ctx = info.context
    lon, lat = check_position([lon, lat], "nearestActivities")
    f = await permissions.records(ctx, checked_filter(filter, ctx.settings) or ActivityFilter())
    async with ctx.db() as conn:
        found = await nearest.nearest(conn, lon, lat, limit, await build_where(conn, f))
    for n in found:
        ctx.loaders.activity.prime(n.activity.id, n.activity)
    permissions.note_reads(ctx, "nearestActivities", (n.activity for n in found))
    return [NearestActivity(activity=Activity(row=n.activity), distance_meters=n.distance_m)
            for n in found]
