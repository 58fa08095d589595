"""activities / activity: reads of individual field records."""

from __future__ import annotations

import strawberry

from geo import activities
from geo.filters import ActivityFilter, Where, build_where
from geo.record import parse_uuid
from graph.context import Info
from graph.inputs import ActivityFilterInput, checked_filter
from graph.resolvers.pagination import check_first, decode_cursor, encode_cursor
from graph.types import Activity, ActivityEdge, PageInfo


@strawberry.type
class ActivityConnection:
    edges: list[ActivityEdge]
    page_info: PageInfo
    where: strawberry.Private[Where]

    @strawberry.field(description="Activities matching the filter (one count query, run only when asked).")
    async def total_count(self, info: Info) -> int:
        async with info.context.db() as conn:
            return await activities.count(conn, self.where)


async def list_activities(info: Info, filter: ActivityFilterInput | None = None,
                          first: int | None = None, after: str | None = None) -> ActivityConnection:
    ctx = info.context
    n = check_first(first, ctx.settings.max_first)
    f = checked_filter(filter, ctx.settings) or ActivityFilter()
    cursor = decode_cursor(after) if after else None
    async with ctx.db() as conn:
        where = await build_where(conn, f)
        rows = await activities.page(conn, where, n, cursor)
    page = rows[:n]
    for r in page:
        ctx.loaders.activity.prime(r.id, r)
    edges = [ActivityEdge(cursor=encode_cursor(r.started_at, r.id), node=Activity(row=r)) for r in page]
    return ActivityConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(rows) > n, has_previous_page=cursor is not None,
                           start_cursor=edges[0].cursor if edges else None,
                           end_cursor=edges[-1].cursor if edges else None),
        where=where,
    )


async def get_activity(info: Info, id: strawberry.ID) -> Activity | None:
    row = await info.context.loaders.activity.load(parse_uuid(id, "id"))
    return Activity(row=row) if row else None
