"""team: a unit's staff with each person's output and outcome, one query per page."""

from __future__ import annotations

from geo.filters import ActivityFilter
from geo.team import team as team_page
from graph import permissions
from graph.context import Info
from graph.inputs import ActivityFilterInput, PeriodInput, checked_filter
from graph.resolvers.pagination import check_first, decode_key, encode_key
from graph.types import PageInfo, StaffPerformance, TeamConnection, TeamEdge

CURSOR_KIND = "team"


async def team(info: Info, unit_code: str, period: PeriodInput,
               filter: ActivityFilterInput | None = None, first: int | None = None,
               after: str | None = None) -> TeamConnection:
    """Members of the unit and the units below it, by unit code, name and id."""
    ctx = info.context
    p = period.checked(ctx.settings)
    n = check_first(first, ctx.settings.max_first)
    cursor = decode_key(CURSOR_KIND, after) if after else None
    units, f = await permissions.team(ctx, unit_code,
                                      checked_filter(filter, ctx.settings) or ActivityFilter())
    async with ctx.db() as conn:
        found = await team_page(conn, units, p, f, first=n, after=cursor)
    for r in found.rows:
        ctx.loaders.staff.prime(r.staff.id, r.staff)
    edges = [TeamEdge(cursor=encode_key(CURSOR_KIND, r.staff.id), node=StaffPerformance(row=r))
             for r in found.rows]
    return TeamConnection(
        edges=edges, total_count=found.total,
        page_info=PageInfo(has_next_page=found.has_next, has_previous_page=cursor is not None,
                           start_cursor=edges[0].cursor if edges else None,
                           end_cursor=edges[-1].cursor if edges else None))
