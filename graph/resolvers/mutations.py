"""recordActivity / recordActivities / setTarget / setUnitOffice: record writes answer in band,
item by item.

An item naming another staff member than the caller is REJECTED as FORBIDDEN in band (admins
may record anyone's); the batch's other items are still stored."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import strawberry
from shapely.geometry import Point
from strawberry.types.nodes import SelectedField, Selection

from geo import offices, targets
from geo.errors import JangkauError, LimitExceeded
from geo.record import NewActivity, Recorded, check_item, record
from geo.validate import parse_geometry
from graph import permissions
from graph.auth import Forbidden
from graph.context import Context, Info
from graph.inputs import ActivityInput, TargetInput
from graph.scalars import GeoJSON
from graph.types import Activity, RecordError, RecordResult, RecordStatus, Target, Unit


def _checked(ctx: Context, inp: ActivityInput, now: datetime) -> NewActivity | JangkauError:
    if not permissions.may_record(ctx, inp.staff_id):
        return Forbidden(f"staffId {str(inp.staff_id)[:40]} is not yours: staff record their own "
                         "activities only")
    return check_item(inp.fields(), now)


def _selects(selections: Sequence[Selection], name: str) -> bool:
    """Whether `name` is asked for among `selections`, fragments included."""
    for s in selections:
        if isinstance(s, SelectedField):
            if s.name == name:
                return True
        elif _selects(s.selections, name):
            return True
    return False


async def _results(info: Info, done: list[Recorded]) -> list[RecordResult]:
    """Stored activities come back with the result, read in one batch, and only when the
    answer asks for them (a phone syncing its queue asks for id and status alone)."""
    keys = [uuid.UUID(r.id) for r in done if r.status != "REJECTED"]
    rows = {}
    if any(_selects(f.selections, "activity") for f in info.selected_fields):
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
    ctx = info.context
    period = input.checked_period(ctx.settings)
    staff_id = input.checked_staff()
    await permissions.check_target(ctx, input.area_code, staff_id)
    async with ctx.db() as conn:
        row = await targets.set_target(conn, input.indicator, period, input.value,
                                       area_code=input.area_code, staff_id=staff_id)
    return Target(row=row)


async def set_unit_office(info: Info, unit_code: str, location: GeoJSON | None = None) -> Unit:
    point = None
    if location is not None:
        geom, _ = parse_geometry(location, ("Point",), where="location")
        assert isinstance(geom, Point)
        point = geom
    async with info.context.db() as conn:
        row = await offices.set_office(conn, unit_code, point)
    info.context.loaders.unit.prime(row.id, row)
    return Unit(row=row)
