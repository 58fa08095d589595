"""GraphQL inputs and their conversion into the data layer's checked values."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import MISSING
from typing import Any, TypeVar

import strawberry
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryOptional,
    StrawberryType,
    get_object_definition,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition

from geo.errors import BadInput
from geo.filters import ActivityFilter, parse_bbox, parse_near
from geo.periods import FIRST_DAY, LAST_DAY, SUPPORTED, Period, make_period
from geo.record import parse_uuid
from geo.settings import Settings
from geo.validate import parse_geometry
from graph.scalars import GeoJSON

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

T = TypeVar("T", bound=type)


def scalar_fields(cls: T) -> T:
    """Build the input `cls`, whose fields are all scalars, straight from the value graphql-core
    has already coerced. Strawberry's generic conversion gives a scalar back as it is, but gets
    there through `convert_argument` field by field: for recordActivities, 13 fields of each of
    500 items, a third of the server's CPU for a batch. The instance is the same: the fields
    sent, the others at their defaults (None when they have none, as Strawberry does).

    It uses Strawberry's `from_input` hook (an input type that builds its own value)."""
    definition = get_object_definition(cls, strict=True)
    for f in definition.fields:
        t = f.type.of_type if isinstance(f.type, StrawberryOptional) else f.type
        if isinstance(t, StrawberryType) or has_object_definition(t) or has_enum_definition(t):
            raise TypeError(f"{cls.__name__}.{f.python_name} is not a scalar")
    unset = {f.python_name: None for f in definition.fields
             if f.default_value is MISSING and f.default_factory is MISSING}
    names: list[tuple[str, str]] = []

    def build(origin: type, value: Mapping[str, Any], context: InputContext) -> Any:
        if not names:
            names.extend((context.config.name_converter.from_field(f), f.python_name)
                         for f in definition.fields)
        return origin(**{**unset, **{py: value[gql] for gql, py in names if gql in value}})

    definition.from_input = build
    return cls


@strawberry.input(name="Period", description="Inclusive Asia/Jakarta (WIB) calendar days.")
class PeriodInput:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date

    def checked(self, settings: Settings, where: str = "period") -> Period:
        return make_period(self.from_, self.to, settings.max_period_days, where)


@strawberry.input(description="A circle on the ground: metres on the WGS84 spheroid.")
class Near:
    lon: float
    lat: float
    radius_meters: float


@strawberry.input(name="ActivityFilter")
class ActivityFilterInput:
    period: PeriodInput | None = None
    area_code: str | None = strawberry.field(
        default=None, description="That area and everything inside it.")
    within: GeoJSON | None = strawberry.field(
        default=None, description="A Polygon or MultiPolygon; activities it covers.")
    bbox: list[float] | None = strawberry.field(
        default=None, description="[minLon, minLat, maxLon, maxLat]")
    near: Near | None = None
    unit_code: str | None = strawberry.field(
        default=None, description="Staff of that unit and of every unit below it.")
    staff_id: strawberry.ID | None = None
    category: str | None = None
    outcome_met: bool | None = None
    include_flagged: bool | None = strawberry.field(
        default=None, description="Also take activities whose plausibility flags are pending "
        "or rejected. Default: false for aggregates (coverage, maps: only unflagged and "
        "accepted ones count), true for lists of activities (a flag is shown, not hidden).")

    def checked(self, settings: Settings, flagged_default: bool = False) -> ActivityFilter:
        return ActivityFilter(
            period=self.period.checked(settings, "filter.period") if self.period else None,
            area_code=self.area_code,
            within=parse_geometry(self.within, ("Polygon", "MultiPolygon"), where="filter.within",
                                  max_vertices=settings.max_within_vertices,
                                  limit_name="max_within_vertices")[0]
            if self.within is not None else None,
            bbox=parse_bbox(self.bbox, "filter.bbox") if self.bbox is not None else None,
            near=parse_near(self.near.lon, self.near.lat, self.near.radius_meters)
            if self.near else None,
            unit_code=self.unit_code,
            staff_id=parse_uuid(self.staff_id, "filter.staffId") if self.staff_id else None,
            category=self.category,
            outcome_met=self.outcome_met,
            include_flagged=(flagged_default if self.include_flagged is None
                             else self.include_flagged),
        )


def checked_filter(f: ActivityFilterInput | None, settings: Settings,
                   flagged_default: bool = False) -> ActivityFilter | None:
    return f.checked(settings, flagged_default) if f is not None else None


@scalar_fields
@strawberry.input
class ActivityInput:
    id: strawberry.ID = strawberry.field(description="Client-generated UUID: the idempotency key.")
    staff_id: strawberry.ID
    category: str = strawberry.field(description="Service category code.")
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    device_time: dt.datetime | None = strawberry.field(
        default=None, description="The device's clock when the activity was recorded.")
    location: GeoJSON = strawberry.field(description="A GeoJSON Point, [lon, lat].")
    accuracy_meters: float | None = None
    mock_location: bool | None = None
    citizens_served: int
    outcome: str | None = strawberry.field(default=None, description="Outcome indicator code.")
    outcome_met: bool
    note: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "staff_id": self.staff_id, "category": self.category,
                "started_at": self.started_at, "ended_at": self.ended_at,
                "device_time": self.device_time, "location": self.location,
                "accuracy_m": self.accuracy_meters, "mock_location": self.mock_location,
                "citizens_served": self.citizens_served, "outcome": self.outcome,
                "outcome_met": self.outcome_met, "note": self.note}


@strawberry.input(description="A target: for an area (`areaCode`) or one staff member "
                  "(`staffId`), exactly one; over `period` or `month` (YYYY-MM, WIB), exactly one.")
class TargetInput:
    indicator: str
    value: float
    area_code: str | None = None
    staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="A personal target: counts that person's own met outcomes.")
    period: PeriodInput | None = None
    month: str | None = None

    def checked_staff(self) -> uuid.UUID | None:
        return parse_uuid(self.staff_id, "input.staffId") if self.staff_id is not None else None

    def checked_period(self, settings: Settings) -> Period:
        if (self.period is None) == (self.month is None):
            raise BadInput("give exactly one of `period` or `month`")
        if self.period is not None:
            return self.period.checked(settings)
        m = MONTH_RE.match(self.month or "")
        if m is None:
            raise BadInput(f"month must look like 2026-11, got {self.month!r:.20}")
        year, month = int(m.group(1)), int(m.group(2))
        if not FIRST_DAY.year <= year <= LAST_DAY.year:
            raise BadInput(f"month {self.month} is outside the supported dates {SUPPORTED}")
        start = dt.date(year, month, 1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        return Period(start, end)
