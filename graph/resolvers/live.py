"""Subscriptions: activityRecorded and coverageChanged, fed by the process's one LISTEN
connection (geo.hub). Filters and permissions are resolved once, when the subscription starts,
with the same rules as the `activities` and `coverage` queries; each batch is then judged in
memory. Others' activities delivered live go to the access log, as a query's would: a live one
is noted on the context's ledger as it is yielded, and graph.streams logs it for every client
the result goes to before it leaves.

These run once per channel (graph.streams): for all the clients that asked the same in the same
permission scope, with a context whose principal is that scope."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncGenerator
from dataclasses import replace

from geo import access_log, live
from geo.activities import ActivityRow
from geo.coverage import Coverage
from geo.coverage import coverage as aggregate
from geo.errors import JangkauError, LimitExceeded
from geo.filters import ActivityFilter, build_where
from geo.hub import Hub
from geo.live import Change
from graph import permissions
from graph.context import Context, Info
from graph.inputs import ActivityFilterInput, PeriodInput, checked_filter
from graph.types import Activity, AreaCoverage, AreaLevel

MAX_CATCH_UP = 5_000
OUTSIDE = -1                 # a changed activity outside every kelurahan: the city's figures
MIN_INTERVAL_S = 1.0         # coverageChanged: at most one message per area per second


def _hub(ctx: Context) -> Hub:
    if ctx.hub is None:
        raise JangkauError("live updates are not available on this server",
                           code="BAD_REQUEST")
    return ctx.hub


async def _log_reads(ctx: Context, rows: list[ActivityRow]) -> None:
    """Others' activities of a catch-up, on record before they leave (committed with the
    access-log rows of whatever else finishes meanwhile: geo.access_writer)."""
    if ctx.ledger is None:
        return
    ledger = access_log.Ledger(ctx.ledger.reader)
    ledger.note("activityRecorded", ((r.id, r.staff_id) for r in rows))
    await ctx.access_writer.write(ledger.reader, ledger.entries())


async def activity_recorded(
    info: Info, filter: ActivityFilterInput | None = None, since: dt.datetime | None = None,
) -> AsyncGenerator[Activity, None]:
    """Each stored activity the caller may read and the filter selects, as it is stored (flagged
    ones included, as in `activities`). With `since`, first those received after it, oldest
    first: resubscribe with the `receivedAt` of the last one you have and nothing is missed
    or repeated."""
    ctx = info.context
    hub = _hub(ctx)
    f = (checked_filter(filter, ctx.settings, flagged_default=True)
         or ActivityFilter(include_flagged=True))
    f = await permissions.records(ctx, f)
    async with ctx.db() as conn:
        m = await live.matcher(conn, f)

    def accept(batch: list[Change]) -> list[ActivityRow]:
        # New activities only: a later change of flags or review is not a new recording.
        return [c.row for c in batch if c.inserted and m.matches(c)]

    sub = hub.subscribe(accept)
    try:
        caught_up: set[uuid.UUID] = set()   # read by the catch-up and maybe announced again
        if since is not None:
            async with ctx.db() as conn:
                where = await build_where(conn, f)
                rows = await live.received_since(conn, where, since, MAX_CATCH_UP + 1)
            if len(rows) > MAX_CATCH_UP:
                raise LimitExceeded(f"more than {MAX_CATCH_UP} activities since {since}: read "
                                    "them with `activities` and resubscribe with a later since")
            await _log_reads(ctx, rows)
            for r in rows:
                caught_up.add(r.id)
                yield Activity(row=r)
        while True:
            fresh = [r for r in await sub.next() if r.id not in caught_up]
            for r in fresh:
                ctx.loaders.activity.prime(r.id, r)
                permissions.note_reads(ctx, "activityRecorded", [r])
                yield Activity(row=r)
    finally:
        hub.unsubscribe(sub)


async def coverage_changed(
    info: Info, level: AreaLevel, period: PeriodInput, filter: ActivityFilterInput | None = None,
) -> AsyncGenerator[list[AreaCoverage], None]:
    """The areas of the level whose figures for the period changed, with their new figures (the
    same as `coverage` then); changes within a second are merged into one message."""
    ctx = info.context
    hub = _hub(ctx)
    p = period.checked(ctx.settings)
    f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings), level.value)
    base = f or ActivityFilter()
    # A review or a re-assignment changes figures without the row being counted now: judge
    # the change on where and what it is, whatever its review state.
    async with ctx.db() as conn:
        m = await live.matcher(conn, replace(base, period=p, include_flagged=True, review=None))

    def accept(batch: list[Change]) -> set[int]:
        return {a for c in batch if m.matches(c) for a in (c.areas or {OUTSIDE})}

    sub = hub.subscribe(accept)
    k = permissions.min_staff(ctx, f)

    async def figures() -> list[Coverage]:
        async with ctx.engine.connect() as conn:
            return await aggregate(conn, level.value, p, f)

    try:
        loop = asyncio.get_running_loop()
        last = -MIN_INTERVAL_S
        while True:
            dirty: set[int] = await sub.next()
            wait = last + MIN_INTERVAL_S - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            while not sub.queue.empty():
                dirty |= await sub.next()
            rows = await hub.shared((level.value, p, f), figures)
            last = loop.time()
            city = level.value == "CITY" and OUTSIDE in dirty
            changed = [r for r in rows if r.area_id in dirty or city]
            if changed:
                yield [AreaCoverage(data=r, level=level.value, period=p, filter=f, min_staff=k)
                       for r in changed]
    finally:
        hub.unsubscribe(sub)
