"""accessLog: who read whose individual location, for admins (UU 27/2022)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime, time, timedelta

import strawberry
from strawberry.scalars import JSON

from geo import access_log
from geo.access_log import LogFilter, LogRow
from geo.errors import BadInput
from geo.periods import WIB, check_day
from geo.record import parse_uuid
from graph.context import Info
from graph.resolvers.pagination import check_first, decode_cursor, encode_cursor
from graph.types import PageInfo, Staff


@strawberry.input(name="AccessLogFilter", description="Inclusive WIB days; all optional.")
class AccessLogFilterInput:
    staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="Whose location was read.")
    actor_sub: str | None = strawberry.field(default=None, description="Who read (token sub).")
    from_: dt.date | None = strawberry.field(default=None, name="from")
    to: dt.date | None = None

    def checked(self) -> LogFilter:
        for day, name in ((self.from_, "from"), (self.to, "to")):
            if day is not None:
                check_day(day, f"accessLog: filter.{name}")
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise BadInput(f"accessLog: 'from' ({self.from_}) is after 'to' ({self.to})")
        return LogFilter(
            staff_id=parse_uuid(self.staff_id, "filter.staffId") if self.staff_id else None,
            actor_sub=self.actor_sub,
            since=datetime.combine(self.from_, time(0), WIB) if self.from_ else None,
            until=datetime.combine(self.to + timedelta(days=1), time(0), WIB) if self.to else None)


@strawberry.type(description="Reads of one person's activities in one request.")
class AccessLogEntry:
    row: strawberry.Private[LogRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def at(self) -> datetime:
        return self.row.at.astimezone(WIB)

    @strawberry.field(description="Who read: the token's `sub`.")
    def actor_sub(self) -> str:
        return self.row.actor_sub

    @strawberry.field
    def actor_role(self) -> str:
        return self.row.actor_role

    @strawberry.field(description="Whose activities were read.")
    async def subject(self, info: Info) -> Staff:
        row = await info.context.loaders.staff.load(self.row.subject_staff_id)
        assert row is not None      # a foreign key
        return Staff(row=row)

    @strawberry.field(description="The fields or endpoint read through, e.g. `activities`.")
    def what(self) -> str:
        return self.row.what

    @strawberry.field(description="e.g. {\"activities\": 3, \"fields\": {...}} or a tile.")
    def detail(self) -> JSON:
        return JSON(self.row.detail)


@strawberry.type
class AccessLogEdge:
    cursor: str
    node: AccessLogEntry


@strawberry.type
class AccessLogConnection:
    edges: list[AccessLogEdge]
    page_info: PageInfo


async def list_access_log(info: Info, filter: AccessLogFilterInput | None = None,
                          first: int | None = None, after: str | None = None
                          ) -> AccessLogConnection:
    """Newest first, in pages."""
    n = check_first(first, info.context.settings.max_first)
    cursor = decode_cursor(after) if after else None
    f = filter.checked() if filter else LogFilter()
    # The primary, with the journal written out first: the log as read is never behind what
    # was answered (geo.access_log.expand).
    async with info.context.engine.connect() as conn:
        await access_log.expand(conn)
        rows = await access_log.page(conn, f, n, cursor)
    edges = [AccessLogEdge(cursor=encode_cursor(r.at, r.id), node=AccessLogEntry(row=r))
             for r in rows[:n]]
    return AccessLogConnection(edges=edges, page_info=PageInfo(
        has_next_page=len(rows) > n, has_previous_page=cursor is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None))
