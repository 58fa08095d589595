"""GraphQL object types. Each wraps a frozen row from the data layer; relations go through the
request's DataLoaders, so a list of N objects costs a constant number of queries."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from geo.activities import ActivityRow
from geo.anonymity import shown
from geo.areas import AreaRow
from geo.coverage import Attainment, Coverage
from geo.filters import ActivityFilter
from geo.people import StaffRow, UnitRow
from geo.periods import WIB, Period
from geo.plausibility import ReviewRow
from geo.population import per_1000
from geo.shapes import band_for_zoom
from geo.targets import TargetRow
from geo.team import Performance, StaffAttainment
from geo.validate import check_position
from graph import permissions
from graph.auth import Forbidden
from graph.context import Info
from graph.inputs import ActivityFilterInput, PeriodInput, checked_filter
from graph.scalars import GeoJSON


def _wib(ts: dt.datetime | None) -> dt.datetime | None:
    """Times go out in WIB (+07:00), the city's own clock."""
    return ts.astimezone(WIB) if ts is not None else None


@strawberry.enum
class AreaLevel(Enum):
    CITY = "CITY"
    KECAMATAN = "KECAMATAN"
    KELURAHAN = "KELURAHAN"


@strawberry.type(name="DateRange", description="Inclusive WIB calendar days.")
class DateRange:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date


@strawberry.type
class Area:
    row: strawberry.Private[AreaRow]

    @strawberry.field(description="Kemendagri code, e.g. 35.78.01.1001.")
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def level(self) -> AreaLevel:
        return AreaLevel(self.row.level)

    @strawberry.field(description="Area on the ground (spheroid), in km².")
    def area_km2(self) -> float:
        return self.row.area_m2 / 1e6

    @strawberry.field(description="A point inside the area for its label (ST_PointOnSurface).")
    def label_point(self) -> GeoJSON:
        return GeoJSON(self.row.label_geojson)

    @strawberry.field
    async def parent(self, info: Info) -> Area | None:
        if self.row.parent_id is None:
            return None
        row = await info.context.loaders.area.load(self.row.parent_id)
        return Area(row=row) if row else None

    @strawberry.field
    async def children(self, info: Info) -> list[Area]:
        rows = await info.context.loaders.children.load(self.row.id) or []
        info.context.loaders.prime_areas(rows)
        return [Area(row=r) for r in rows]

    @strawberry.field(description="The boundary as a GeoJSON MultiPolygon (RFC 7946): without "
                      "zoom at full resolution, with zoom simplified for that zoom's band, "
                      "sharing its edges with its neighbours'.")
    async def geometry(self, info: Info, zoom: int | None = None) -> GeoJSON:
        if zoom is None:
            boundary = await info.context.loaders.geometry.load(self.row.id)
        else:
            band = band_for_zoom(zoom)
            boundary = await info.context.loaders.shape.load((self.row.id, band.number))
        if boundary is None:    # a bug, not the client's fault: INTERNAL_SERVER_ERROR
            raise RuntimeError(f"no boundary for area {self.row.code} (zoom {zoom})")
        return GeoJSON(boundary)

    @strawberry.field(description="This area's coverage; areas of one level share one query.")
    async def coverage(self, info: Info, period: PeriodInput,
                       filter: ActivityFilterInput | None = None) -> AreaCoverage:
        ctx = info.context
        p = period.checked(ctx.settings)
        f = await permissions.aggregates(ctx, checked_filter(filter, ctx.settings), self.row.level,
                                         area=self.row.code)
        row = await ctx.loaders.coverage.load((self.row.id, self.row.level, p, f))
        assert row is not None
        return AreaCoverage(data=row, level=self.row.level, period=p, filter=f,
                            min_staff=permissions.min_staff(ctx, f))

    @strawberry.field(description="Targets set on this area that overlap the period.")
    async def targets(self, info: Info, period: PeriodInput) -> list[Target]:
        p = period.checked(info.context.settings)
        rows = await info.context.loaders.targets.load((self.row.id, p))
        return [Target(row=r) for r in rows]

    @strawberry.field(description="Metres from (lon, lat) to the area on the WGS84 spheroid; "
                      "0 inside. Areas of a list asking for one point share one query.")
    async def distance_to(self, info: Info, lon: float, lat: float) -> float:
        lon, lat = check_position([lon, lat], "distanceTo")
        metres = await info.context.loaders.distance.load((self.row.id, lon, lat))
        assert metres is not None
        return metres


@strawberry.type
class TargetAttainment:
    row: strawberry.Private[Attainment | StaffAttainment]

    @strawberry.field
    def indicator(self) -> str:
        return self.row.indicator

    @strawberry.field(description="Sum of the targets on the area and inside it (or of the "
                                  "person's own), prorated to the period.")
    def target(self) -> float:
        return round(self.row.target, 6)

    @strawberry.field(description="Met outcomes of this indicator in the overlap of the periods.")
    def actual(self) -> int:
        return self.row.actual

    @strawberry.field(description="actual / target")
    def ratio(self) -> float:
        return round(self.row.ratio, 6)

    @strawberry.field
    def met(self) -> bool:
        return self.row.met


PER_1000 = ("per 1000 residents, from the area's own population figure of the latest year up "
            "to the period's end year (`jangkau areas population import`); null where there is "
            "none.")


@strawberry.type(description="An area's figures over one period.")
class CoverageFigures:
    data: strawberry.Private[Coverage]
    period: strawberry.Private[Period]
    min_staff: strawberry.Private[int]     # fewer distinct staff: identifying figures are null

    @strawberry.field
    def activities(self) -> int:
        return self.data.activities

    @strawberry.field(description="Distinct staff: counted, never summed, at every level. Null "
                      "for callers who may not see individual records (planners, staff, the "
                      "public) where fewer than k staff (JANGKAU_K_ANONYMITY) worked.")
    def distinct_staff(self) -> int | None:
        return shown(self.data.staff, self.data.staff, self.min_staff)

    @strawberry.field
    def citizens_served(self) -> int:
        return self.data.citizens

    @strawberry.field
    def outcomes_met(self) -> int:
        return self.data.outcomes_met

    @strawberry.field(description="outcomesMet / activities; null where there was no activity.")
    def outcome_rate(self) -> float | None:
        rate = self.data.outcome_rate
        return None if rate is None else round(rate, 6)

    @strawberry.field(description="Null where distinctStaff is suppressed.")
    def last_activity_at(self) -> dt.datetime | None:
        return _wib(shown(self.data.last_at, self.data.staff, self.min_staff))

    @strawberry.field
    def activities_per_km2(self) -> float:
        return round(self.data.per_km2, 6)

    @strawberry.field(description=f"Activities {PER_1000}")
    async def activities_per1000(self, info: Info) -> float | None:
        people = await info.context.loaders.population.load(
            (self.data.area_id, self.period.end.year))
        return per_1000(self.data.activities, people)

    @strawberry.field(description=f"Citizens served {PER_1000}")
    async def citizens_served_per1000(self, info: Info) -> float | None:
        people = await info.context.loaders.population.load(
            (self.data.area_id, self.period.end.year))
        return per_1000(self.data.citizens, people)


@strawberry.type
class AreaCoverage(CoverageFigures):
    level: strawberry.Private[str]
    filter: strawberry.Private[ActivityFilter | None]
    compared: strawberry.Private[Coverage | None] = None
    compare_period: strawberry.Private[Period | None] = None

    @strawberry.field
    async def area(self, info: Info) -> Area:
        row = await info.context.loaders.area.load(self.data.area_id)
        assert row is not None
        return Area(row=row)

    @strawberry.field(description="The same figures over `compareTo`; null without it.")
    def previous(self) -> CoverageFigures | None:
        if self.compared is None or self.compare_period is None:
            return None
        return CoverageFigures(data=self.compared, period=self.compare_period,
                               min_staff=self.min_staff)

    @strawberry.field(description="Attainment of each target overlapping the period.")
    async def attainment(self, info: Info) -> list[TargetAttainment]:
        rows = await info.context.loaders.attainment.load(
            (self.data.area_id, self.level, self.period, self.filter))
        return [TargetAttainment(row=r) for r in rows]


@strawberry.type
class Target:
    row: strawberry.Private[TargetRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def indicator(self) -> str:
        return self.row.indicator

    @strawberry.field(description="The area of an area target; null for a personal one.")
    async def area(self, info: Info) -> Area | None:
        if self.row.area_id is None:
            return None
        row = await info.context.loaders.area.load(self.row.area_id)
        return Area(row=row) if row else None

    @strawberry.field(description="The staff member of a personal target; null for an area's.")
    async def staff(self, info: Info) -> Staff | None:
        if self.row.staff_id is None:
            return None
        row = await info.context.loaders.staff.load(self.row.staff_id)
        return Staff(row=row) if row else None

    @strawberry.field
    def period(self) -> DateRange:
        return DateRange(from_=self.row.start, to=self.row.end)

    @strawberry.field
    def value(self) -> float:
        return self.row.value


@strawberry.type
class Unit:
    row: strawberry.Private[UnitRow]

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="OPD, KECAMATAN, KELURAHAN or UPT.")
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field
    async def parent(self, info: Info) -> Unit | None:
        if self.row.parent_id is None:
            return None
        row = await info.context.loaders.unit.load(self.row.parent_id)
        return Unit(row=row) if row else None

    @strawberry.field(description="Where the unit's office stands (a GeoJSON Point), from which "
                      "team fieldShare measures; null when unknown.")
    def office(self) -> GeoJSON | None:
        return GeoJSON(self.row.office) if self.row.office is not None else None


@strawberry.type
class Staff:
    row: strawberry.Private[StaffRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    async def _identity(self, info: Info, value: str) -> str:
        if not await permissions.may_identify(info.context, self.row):
            raise Forbidden("a NIP and a name are shown only to admins, the person and their "
                            "supervisors")
        return value

    @strawberry.field(description="18-digit NIP. Personal data: never use it as a key. Only "
                      "for admins, the person and their supervisors (FORBIDDEN otherwise).")
    async def nip(self, info: Info) -> str:
        return await self._identity(info, self.row.nip)

    @strawberry.field(description="Only for admins, the person and their supervisors.")
    async def name(self, info: Info) -> str:
        return await self._identity(info, self.row.name)

    @strawberry.field
    def active(self) -> bool:
        return self.row.active

    @strawberry.field
    async def unit(self, info: Info) -> Unit:
        row = await info.context.loaders.unit.load(self.row.unit_id)
        assert row is not None
        return Unit(row=row)


@strawberry.enum(description="Where an activity's plausibility flags stand.")
class ReviewState(Enum):
    NONE = "NONE"
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


@strawberry.enum
class ReviewDecision(Enum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    CONTESTED = strawberry.enum_value(
        "CONTESTED", description="The record's own staff member disagrees (contestFlags); "
                                 "not a decision resolveFlags takes.")


@strawberry.enum(description="The order of the review queue.")
class FlagOrder(Enum):
    NEWEST = strawberry.enum_value("NEWEST", description="Newest first.")
    CONFIDENCE = strawberry.enum_value(
        "CONFIDENCE", description="What most needs a human first: highest confidence, then "
                                  "newest.")


@strawberry.type(description="One plausibility flag and why it was raised, with its numbers.")
class FlagDetail:
    flag: str
    explanation: str


@strawberry.type(description="A supervisor's decision on an activity's flags, or its staff "
                             "member's contest of them.")
class FlagReview:
    row: strawberry.Private[ReviewRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def decision(self) -> ReviewDecision:
        return ReviewDecision(self.row.decision)

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(description="Who decided (or contested): the `sub` of their token.")
    def reviewer(self) -> str | None:
        return self.row.reviewer

    @strawberry.field
    def at(self) -> dt.datetime:
        return self.row.at.astimezone(WIB)

    @strawberry.field(description="The flags the decision was made on.")
    def flags_at_review(self) -> list[str]:
        return self.row.flags_at_review


@strawberry.type
class Activity:
    row: strawberry.Private[ActivityRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    async def staff(self, info: Info) -> Staff:
        row = await info.context.loaders.staff.load(self.row.staff_id)
        assert row is not None
        return Staff(row=row)

    @strawberry.field(description="Service category code.")
    def category(self) -> str:
        return self.row.category

    @strawberry.field
    def started_at(self) -> dt.datetime:
        return self.row.started_at.astimezone(WIB)

    @strawberry.field
    def ended_at(self) -> dt.datetime | None:
        return _wib(self.row.ended_at)

    @strawberry.field(description="The device's clock when it was recorded.")
    def device_time(self) -> dt.datetime | None:
        return _wib(self.row.device_time)

    @strawberry.field(description="When the server received it.")
    def received_at(self) -> dt.datetime:
        return self.row.received_at.astimezone(WIB)

    @strawberry.field(description="A GeoJSON Point. Reading another person's is access-logged.")
    def location(self, info: Info) -> GeoJSON:
        permissions.note_reads(info.context, "Activity.location", [self.row])
        return GeoJSON(self.row.location)

    @strawberry.field
    def accuracy_meters(self) -> float | None:
        return self.row.accuracy_m

    @strawberry.field
    def mock_location(self) -> bool:
        return self.row.mock_location

    @strawberry.field(description="The kelurahan, assigned by the database; "
                                  "null outside every kelurahan.")
    async def area(self, info: Info) -> Area | None:
        if self.row.area_id is None:
            return None
        row = await info.context.loaders.area.load(self.row.area_id)
        return Area(row=row) if row else None

    @strawberry.field
    def citizens_served(self) -> int:
        return self.row.citizens_served

    @strawberry.field(description="Outcome indicator code.")
    def outcome(self) -> str | None:
        return self.row.outcome

    @strawberry.field
    def outcome_met(self) -> bool:
        return self.row.outcome_met

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note

    @strawberry.field(description="Plausibility flags, judged by the database at write time "
                      "and again when a neighbouring record of the same staff member arrives.")
    def flags(self) -> list[str]:
        return self.row.flags

    @strawberry.field(description="Where its flags stand; only NONE and ACCEPTED count in "
                      "coverage unless a filter says includeFlagged.")
    def review(self) -> ReviewState:
        return ReviewState(self.row.review)

    @strawberry.field(description="Each flag with the reason it was raised, in flag order.")
    def flag_details(self) -> list[FlagDetail]:
        return [FlagDetail(flag=f, explanation=self.row.flag_notes.get(f, ""))
                for f in self.row.flags]

    @strawberry.field(description="0..1: how much its flags together need a human, "
                                  "1 - product(1 - weight) over its flags.")
    def confidence(self) -> float:
        return self.row.confidence

    @strawberry.field(description="Supervisors' decisions on its flags and its staff member's "
                                  "contests, oldest first.")
    async def reviews(self, info: Info) -> list[FlagReview]:
        rows = await info.context.loaders.reviews.load(self.row.id) or []
        return [FlagReview(row=r) for r in rows]


@strawberry.type
class ActivityEdge:
    cursor: str
    node: Activity


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Category:
    code: str
    name: str
    unit_code: str


@strawberry.type
class Indicator:
    code: str
    name: str
    unit_code: str


@strawberry.enum
class RecordStatus(Enum):
    CREATED = "CREATED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


@strawberry.type
class RecordError:
    code: str
    message: str


@strawberry.type
class RecordResult:
    id: strawberry.ID
    status: RecordStatus
    activity: Activity | None
    error: RecordError | None


@strawberry.type(description="One staff member's output and outcome over a period.")
class StaffPerformance:
    row: strawberry.Private[Performance]

    @strawberry.field
    def staff(self) -> Staff:
        return Staff(row=self.row.staff)

    @strawberry.field(description="Counted activities: unflagged or accepted unless the filter "
                                  "says includeFlagged, as in coverage.")
    def activities(self) -> int:
        return self.row.activities

    @strawberry.field
    def citizens_served(self) -> int:
        return self.row.citizens

    @strawberry.field
    def outcomes_met(self) -> int:
        return self.row.outcomes_met

    @strawberry.field(description="outcomesMet / activities; null without activity.")
    def outcome_rate(self) -> float | None:
        rate = self.row.outcome_rate
        return None if rate is None else round(rate, 6)

    @strawberry.field(description="WIB calendar days with at least one counted activity.")
    def field_days(self) -> int:
        return self.row.field_days

    @strawberry.field(description="Distinct kelurahan of the counted activities.")
    def areas_served(self) -> int:
        return self.row.areas_served

    @strawberry.field(description="Share of the counted activities at least 250 m (spheroid) "
                      "from the office of the person's unit; null without activity or when "
                      "the office is unknown.")
    def field_share(self) -> float | None:
        share = self.row.field_share
        return None if share is None else round(share, 6)

    @strawberry.field(description="Share of all their records in the period whose "
                                  "plausibility flags await review; 0 without records.")
    def flagged_share(self) -> float:
        return round(self.row.flagged_share, 6)

    @strawberry.field
    def last_activity_at(self) -> dt.datetime | None:
        return _wib(self.row.last_at)

    @strawberry.field(description="The person's own targets overlapping the period, prorated, "
                                  "against their met outcomes among the activities above.")
    def attainment(self) -> list[TargetAttainment]:
        return [TargetAttainment(row=a) for a in self.row.attainment]


@strawberry.type
class TeamEdge:
    cursor: str
    node: StaffPerformance


@strawberry.type
class TeamConnection:
    edges: list[TeamEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Members of the team, all pages.")
