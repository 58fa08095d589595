"""activities / activity: reads of individual field records, narrowed by graph.permissions and
written to the access log when they are someone else's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

import orjson
import strawberry

from geo import activities, page_json
from geo.activities import ActivityRow
from geo.filters import ActivityFilter, Where, where_of
from geo.record import parse_uuid
from geo.settings import Settings
from graph import permissions
from graph.compile import Plan, Precompiled, edge_values, plan
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
    # The compiled page (graph.compile): its edges by response key, and what it read.
    compiled: strawberry.Private[Compiled | None] = None

    @strawberry.field
    def edges(self, info: Info) -> list[ActivityEdge]:
        # The page is read (and logged) only when its activities are asked for.
        if self.compiled is not None:
            key = info.path.key
            assert isinstance(key, str)
            permissions.note_pairs(info.context, self.read_as, self.compiled.reads)
            if key in self.compiled.plan.located:
                permissions.note_pairs(info.context, "Activity.location", self.compiled.reads)
            # Typed as the schema says; graph.compile.CompilingExecutor hands it out as it is.
            return cast(list[ActivityEdge], Precompiled(self.compiled.edges[key]))
        permissions.note_reads(info.context, self.read_as, (e.node.row for e in self.page))
        return self.page

    @strawberry.field(description="Activities matching the filter "
                                  "(one count query, run only when asked).")
    async def total_count(self, info: Info) -> int:
        async with info.context.read() as conn:
            return await activities.count(conn, self.where)


@dataclass(frozen=True)
class Compiled:
    plan: Plan
    reads: list[tuple[uuid.UUID, uuid.UUID]]     # (activity, staff) of the page, in order
    edges: dict[str, Any]        # by response key: a list of edges, or their JSON whole


def page_filter(filter: ActivityFilterInput | None, settings: Settings) -> ActivityFilter:
    """`activities`' filter as given (flagged activities included unless it says otherwise)."""
    return (checked_filter(filter, settings, flagged_default=True)
            or ActivityFilter(include_flagged=True))


async def list_activities(info: Info, filter: ActivityFilterInput | None = None,
                          first: int | None = None, after: str | None = None) -> ActivityConnection:
    return await connection(info, page_filter(filter, info.context.settings), first, after)


def _cursor(r: ActivityRow | page_json.PageRow, by_confidence: bool) -> str:
    return (encode_ranked_cursor(r.confidence, r.started_at, r.id) if by_confidence
            else encode_cursor(r.started_at, r.id))


async def connection(info: Info, f: ActivityFilter, first: int | None, after: str | None,
                     by_confidence: bool = False) -> ActivityConnection:
    """A page of the activities that `f` selects and the caller may read, newest first (or
    the most confidently flagged first): compiled to one JSON-writing statement when its
    selection allows (graph.compile), else resolved field by field."""
    ctx = info.context
    n = check_first(first, ctx.settings.max_first)
    f = await permissions.records(ctx, f)
    if by_confidence:
        ranked = decode_ranked_cursor(after) if after else None
        keyset = None if ranked is None else \
            {"after_c": ranked[0], "after_t": ranked[1], "after_id": ranked[2]}
    else:
        keyset = newest_after(after)
    order = "confidence" if by_confidence else "newest"
    where = where_of(f, await permissions.ids(ctx, f))
    found = plan(info, "ActivityConnection") if ctx.compile_pages else None
    if found is not None and found.identifies and not await permissions.identifies_all(ctx, f):
        found = None    # resolved: each name the caller may not see is its own FORBIDDEN
    if found is not None:
        return await _compiled(info, found, where, n, keyset, order, after)
    async with ctx.read() as conn:
        rows = await activities.page(conn, where, n, keyset, order)
    page = rows[:n]
    for r in page:
        ctx.loaders.activity.prime(r.id, r)
    edges = [ActivityEdge(cursor=_cursor(r, by_confidence), node=Activity(row=r)) for r in page]
    cursors = [e.cursor for e in edges]
    return ActivityConnection(page=edges, page_info=page_info(cursors, len(rows) > n, after),
                              where=where, read_as=info.field_name)


def newest_after(after: str | None) -> dict[str, Any] | None:
    """The keyset parameters of a newest-first page after the cursor `after` (BadInput for a
    cursor this API did not give out)."""
    plain = decode_cursor(after) if after else None
    return None if plain is None else {"after_t": plain[0], "after_id": plain[1]}


def ends(page: page_json.Edges) -> list[str]:
    """The cursors of a compiled page's first and last edges; none when it is empty."""
    return [encode_cursor(page.started_at[i], page.ids[i]) for i in (0, -1)] if page.ids else []


def page_info(cursors: list[str], more: bool, after: str | None) -> PageInfo:
    return PageInfo(has_next_page=more, has_previous_page=after is not None,
                    start_cursor=cursors[0] if cursors else None,
                    end_cursor=cursors[-1] if cursors else None)


async def _compiled(info: Info, found: Plan, where: Where, n: int, keyset: dict[str, Any] | None,
                    order: str, after: str | None) -> ActivityConnection:
    """Newest first, PostgreSQL writes every edges key's array whole, cursors included; the
    review queue's cursors hold a float as orjson writes it, so they are written here."""
    if order == "newest":
        async with info.context.read() as conn:
            page = await page_json.edges(conn, where, n, keyset, found.edge_shapes())
        return ActivityConnection(
            page=[], page_info=page_info(ends(page), page.more, after), where=where,
            read_as=info.field_name, compiled=Compiled(
                found, list(zip(page.ids, page.staff_ids, strict=True)),
                {k: orjson.Fragment(j) for k, j in zip(found.edges, page.edges, strict=True)}))
    async with info.context.read() as conn:
        rows = await page_json.page(conn, where, n, keyset, found.shapes, order)
    found_rows = rows[:n]
    cursors = [_cursor(r, True) for r in found_rows]
    nodes = [[orjson.Fragment(o) for o in r.objects] for r in found_rows]
    edges = {key: [edge_values(e, c, objs) for c, objs in zip(cursors, nodes, strict=True)]
             for key, e in found.edges.items()}
    return ActivityConnection(page=[], page_info=page_info(cursors, len(rows) > n, after),
                              where=where, read_as=info.field_name,
                              compiled=Compiled(found, [(r.id, r.staff_id) for r in found_rows],
                                                edges))


async def get_activity(info: Info, id: strawberry.ID) -> Activity | None:
    row = await info.context.loaders.activity.load(parse_uuid(id, "id"))
    if row is None:
        return None
    await permissions.check_record(info.context, row)
    permissions.note_reads(info.context, "activity", [row])
    return Activity(row=row)
