"""recordActivity / recordActivities / setTarget / setUnitOffice: record writes answer in band,
item by item.

An item naming another staff member than the caller is REJECTED as FORBIDDEN in band (admins
may record anyone's); the batch's other items are still stored.

Results that do not ask for the stored activity (a phone syncing its queue asks for id, status
and error) are written as the executor would complete them and handed out whole
(graph.compile's Precompiled), rather than walked field by field, 500 a batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import strawberry
from shapely.geometry import Point
from strawberry.types.nodes import SelectedField, Selection

from geo import offices, targets
from geo.errors import JangkauError, LimitExceeded
from geo.record import NewActivity, Recorded, check_item, record
from geo.validate import parse_geometry
from graph import permissions
from graph.auth import Forbidden
from graph.compile import Collector, Precompiled
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


# What a result is written with, by field (all of RecordResult's but `activity`, which is
# resolved); an error's fields likewise.
WRITTEN = {"RecordResult": frozenset({"id", "status", "error", "__typename"}),
           "RecordError": frozenset({"code", "message", "__typename"})}
# (response key, field, the error's (response key, field) pairs) of each selected field
Written = list[tuple[str, str, list[tuple[str, str]]]]


def _written(info: Info) -> Written | None:
    """The results' selection, when every field of it can be written without resolving;
    None when it asks for the activity, or the request's answers are not compiled."""
    if not info.context.compile_pages:
        return None
    c = Collector.of(info)
    selection: Written = []
    roots = [n.selection_set for n in info._raw_info.field_nodes]
    for key, nodes in c.collect("RecordResult", roots).items():
        name = nodes[0].name.value
        if name not in WRITTEN["RecordResult"]:
            return None
        error: list[tuple[str, str]] = []
        if name == "error":
            for k, fnodes in c.collect("RecordError", [n.selection_set for n in nodes]).items():
                if fnodes[0].name.value not in WRITTEN["RecordError"]:
                    return None
                error.append((k, fnodes[0].name.value))
        selection.append((key, name, error))
    return selection


def _write(r: Recorded, selection: Written) -> dict[str, Any]:
    """One result, as the executor would complete it."""
    def value(name: str, error: list[tuple[str, str]]) -> Any:
        if name == "id":
            return r.id
        if name == "status":
            return r.status
        if name == "__typename":
            return "RecordResult"
        if r.error is None:
            return None
        return {k: "RecordError" if f == "__typename" else getattr(r.error, f) for k, f in error}
    return {key: value(name, error) for key, name, error in selection}


async def _results(info: Info, done: list[Recorded]) -> list[RecordResult]:
    """Stored activities come back with the result, read in one batch, and only when the
    answer asks for them (a phone syncing its queue asks for id and status alone)."""
    written = _written(info)
    if written is not None:
        # Typed as the schema says; graph.compile.CompilingExecutor hands it out as it is.
        return cast(list[RecordResult], Precompiled([_write(r, written) for r in done]))
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
    results: Any = await record_activities(info, [input])
    if isinstance(results, Precompiled):
        return cast(RecordResult, Precompiled(results.value[0]))
    return cast(RecordResult, results[0])


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
