"""flaggedActivities / resolveFlags / contestFlags: a supervisor's review of implausible
records, and the staff member's say on their own."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import strawberry

from geo import activities, plausibility
from geo.errors import NotFound
from geo.filters import ActivityFilter
from geo.record import parse_uuid
from graph import permissions
from graph.context import Info
from graph.inputs import ActivityFilterInput, checked_filter
from graph.resolvers.activities import ActivityConnection, connection
from graph.types import Activity, FlagOrder, ReviewDecision, ReviewState


async def flagged_activities(
    info: Info, filter: ActivityFilterInput | None = None, first: int | None = None,
    after: str | None = None,
    review: Annotated[list[ReviewState] | None, strawberry.argument(
        description="Review states to list; PENDING when not given.")] = None,
    order_by: FlagOrder = FlagOrder.NEWEST,
) -> ActivityConnection:
    """Flagged activities that match the filter and the caller may review, newest first or
    the most confidently flagged first."""
    f = checked_filter(filter, info.context.settings) or ActivityFilter()
    states = frozenset(s.value for s in review) if review else frozenset({"PENDING"})
    return await connection(info, dataclasses.replace(f, review=states), first, after,
                            by_confidence=order_by == FlagOrder.CONFIDENCE)


async def resolve_flags(info: Info, activity_id: strawberry.ID, decision: ReviewDecision,
                        reason: str) -> Activity:
    """Accept or reject an activity's flags, with a reason kept in its history."""
    id = parse_uuid(activity_id, "activityId")
    loaders = info.context.loaders
    row = await loaders.activity.load(id)
    if row is None:
        raise NotFound(f"unknown activity id {id}")
    reviewer = await permissions.check_review(info.context, row)
    async with info.context.db() as conn:
        await plausibility.resolve(conn, id, decision.value, reason, reviewer)
        row = (await activities.by_ids(conn, [id]))[id]
    loaders.activity.clear(id)          # loaded above, so cached
    loaders.activity.prime(id, row)
    loaders.reviews.clear_all()
    return Activity(row=row)


async def contest_flags(info: Info, activity_id: strawberry.ID, note: str,
                        flag: str | None = None) -> Activity:
    """The record's own staff member disagrees with its flags (or one), with a note."""
    id = parse_uuid(activity_id, "activityId")
    loaders = info.context.loaders
    row = await loaders.activity.load(id)
    if row is None:
        raise NotFound(f"unknown activity id {id}")
    by = permissions.check_contest(info.context, row)
    async with info.context.db() as conn:
        await plausibility.contest(conn, id, note, flag, by)
        row = (await activities.by_ids(conn, [id]))[id]
    loaders.activity.clear(id)          # loaded above, so cached
    loaders.activity.prime(id, row)
    loaders.reviews.clear_all()
    return Activity(row=row)
