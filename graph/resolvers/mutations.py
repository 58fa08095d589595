"""recordActivity / recordActivities / setTarget: writes answer in band, item by item.

An item naming another staff member than the caller is REJECTED as FORBIDDEN in band (admins
may record anyone's); the batch's other items are still stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import strawberry

from geo import targets
from geo.errors import JangkauError, LimitExceeded
from geo.record import NewActivity, Recorded, check_item, record
from graph import permissions
from graph.auth import Forbidden
from graph.context import Context, Info
from graph.inputs import ActivityInput, TargetInput
from graph.types import Activity, RecordError, RecordResult, RecordStatus, Target


def _checked(ctx: Context, inp: ActivityInput, now: datetime) -> NewActivity | JangkauError:
    if not permissions.may_record(ctx, inp.staff_id):
        return Forbidden(f"staffId {str(inp.staff_id)[:40]} is not yours: staff record their own "
                         "activities only")
    return check_item(inp.fields(), now)


async def _results(info: Info, done: list[Recorded]) -> list[RecordResult]:
    """Stored activities come back with the result, read in one batch."""
    keys = [uuid.UUID(r.id) for r in done if r.status != "REJECTED"]
    rows = dict(zip(keys, await info.context.loaders.activity.load_many(keys), strict=True))
    out = []
    for r in done:
        row = rows.get(uuid.UUID(r.id)) if r.status != "REJECTED" else None
        out.append(RecordResult(
            id=strawberry.ID(r.id), status=RecordStatus(r.status),
            activity=Activity(row=row) if row else None,
            error=RecordError(code=r.error.code, message=r.error.message) if r.error else None))
    return out


async def record_activities(info: Info, inputs: list[ActivityInput]) -> list[RecordResult]:
    """Store every valid item; answer one result per item, in order."""
    limit = info.context.settings.max_batch
    if len(inputs) > limit:
        raise LimitExceeded(f"{len(inputs)} activities in one batch; the maximum (max_batch) is "
                            f"{limit}: split the batch and resend")
    now = datetime.now(UTC)
    batch = [_checked(info.context, i, now) for i in inputs]
    async with info.context.db() as conn:
        done = await record(conn, batch, [str(i.id) for i in inputs])
    return await _results(info, done)


async def record_activity(info: Info, input: ActivityInput) -> RecordResult:
    return (await record_activities(info, [input]))[0]


async def set_target(info: Info, input: TargetInput) -> Target:
    period = input.checked_period(info.context.settings)
    async with info.context.db() as conn:
        row = await targets.set_target(conn, input.indicator, input.area_code, period, input.value)
    return Target(row=row)
