"""activities / activity: reads of individual field records, narrowed by graph.permissions and
written to the access log when they are someone else's."""

from __future__ import annotations

import strawberry

from geo import activities
from geo.filters import ActivityFilter, Where, build_where
from geo.record import parse_uuid
from graph import permissions
from graph.context import Info
from graph.inputs import ActivityFilterInput, checked_filter
from graph.resolvers.pagination import (
    check_first,
    decode_cursor,
    decode_ranked_cursor,
    encode_cursor,
    encode_ranked_cursor,
)
from graph.types import Activity, ActivityEdge, PageInfo


@strawberry.type
class ActivityConnection:
    page: strawberry.Private[list[ActivityEdge]]
    page_info: PageInfo
    where: strawberry.Private[Where]
    read_as: strawberry.Private[str]    # the root field, as the access log names it

    @strawberry.field
    def edges(self, info: Info) -> list[ActivityEdge]:
        # The page is read (and logged) only when its activities are asked for.
        permissions.note_reads(info.context, self.read_as, (e.node.row for e in self.page))
        return self.page

    @strawberry.field(description="Activities matching the filter "
                                  "(one count query, run only when asked).")
    async def total_count(self, info: Info) -> int:
        async with info.context.db() as conn:
            return await activities.count(conn, self.where)


async def list_activities(info: Info, filter: ActivityFilterInput | None = None,
                          first: int | None = None, after: str | None = None) -> ActivityConnection:
    f = (checked_filter(filter, info.context.settings, flagged_default=True)
         or ActivityFilter(include_flagged=True))
    return await connection(info, f, first, after)


async def connection(info: Info, f: ActivityFilter, first: int | None, after: str | None,
                     by_confidence: bool = False) -> ActivityConnection:
    """A page of the activities that `f` selects and the caller may read, newest first (or
    the most confidently flagged first)."""
    ctx = info.context
    n = check_first(first, ctx.settings.max_first)
    f = await permissions.records(ctx, f)
    if by_confidence:
        ranked = decode_ranked_cursor(after) if after else None
        async with ctx.db() as conn:
            where = await build_where(conn, f)
            rows = await activities.page_by_confidence(conn, where, n, ranked)
    else:
        cursor = decode_cursor(after) if after else None
        async with ctx.db() as conn:
            where = await build_where(conn, f)
            rows = await activities.page(conn, where, n, cursor)
    page = rows[:n]
    for r in page:
        ctx.loaders.activity.prime(r.id, r)
    edges = [ActivityEdge(cursor=encode_ranked_cursor(r.confidence, r.started_at, r.id)
                          if by_confidence else encode_cursor(r.started_at, r.id),
                          node=Activity(row=r))
             for r in page]
    return ActivityConnection(
        page=edges,
        page_info=PageInfo(has_next_page=len(rows) > n, has_previous_page=after is not None,
                           start_cursor=edges[0].cursor if edges else None,
                           end_cursor=edges[-1].cursor if edges else None),
        where=where,
        read_as=info.field_name,
    )


async def get_activity(info: Info, id: strawberry.ID) -> Activity | None:
    row = await info.context.loaders.activity.load(parse_uuid(id, "id"))
    if row is None:
        return None
    await permissions.check_record(info.context, row)
    permissions.note_reads(info.context, "activity", [row])
    return Activity(row=row)
