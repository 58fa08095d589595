"""The Schema: root types and the extensions that guard and speed it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from graph.compile import CompilingExecutor
from graph.context import Context
from graph.errors import format_error, log_unexpected
from graph.permissions import protect
from graph.resolvers.access import AccessLogConnection, list_access_log
from graph.resolvers.activities import ActivityConnection, get_activity, list_activities
from graph.resolvers.areas import coverage, get_area, list_areas
from graph.resolvers.live import activity_recorded, coverage_changed
from graph.resolvers.maps import coverage_map, last_activity_date
from graph.resolvers.mutations import (
    record_activities,
    record_activity,
    set_target,
    set_unit_office,
)
from graph.resolvers.people import get_staff, list_categories, list_indicators, list_units
from graph.resolvers.planner import (
    AreaGap,
    AreaReach,
    NearestActivity,
    gaps,
    hexbins,
    nearest_activities,
    reach,
)
from graph.resolvers.review import contest_flags, flagged_activities, resolve_flags
from graph.resolvers.series import AreaSeries, coverage_series
from graph.resolvers.team import team
from graph.scalars import SCALARS, GeoJSON
from graph.types import (
    Activity,
    Area,
    AreaCoverage,
    Category,
    Indicator,
    RecordResult,
    Staff,
    Target,
    TeamConnection,
    Unit,
)


@strawberry.type
class Query:
    area: Area | None = strawberry.field(resolver=get_area,
                                         description="An area by Kemendagri code.")
    areas: list[Area] = strawberry.field(resolver=list_areas, description="Areas, by code.")
    coverage: list[AreaCoverage] = strawberry.field(
        resolver=coverage,
        description="One row for every area of the level, zeros included. With `compareTo` (e.g. "
                    "the previous month), each row's `previous` holds its figures over that "
                    "period, from one more query for all areas.")
    coverage_series: list[AreaSeries] = strawberry.field(
        resolver=coverage_series,
        description="A trend: one series per area of the level (or of the filter's area), by "
                    "code, one point per bucket of the period, empty buckets included. Each "
                    "point equals `coverage` over its days alone, and the points' activities, "
                    "citizensServed and outcomesMet sum to the whole period's.")
    coverage_map: GeoJSON = strawberry.field(
        resolver=coverage_map,
        description="A choropleth: a GeoJSON FeatureCollection, one Feature per area of the level "
                    "(zeros included) with the figures of `coverage` and target attainment as "
                    "properties; boundaries of the zoom's band (without zoom, z14+).")
    hexbins: GeoJSON = strawberry.field(
        resolver=hexbins,
        description="A GeoJSON FeatureCollection of hexagons (edge = cellSizeMeters, 50..20000, "
                    "on UTM 49S) with activities, citizensServed, outcomesMet and outcomeRate; "
                    "every activity counts in exactly one hexagon; hexagons with fewer than the "
                    "server's minimum count (JANGKAU_HEXBIN_MIN_COUNT) are left out, and for "
                    "planners, staff and the public those from fewer than k distinct staff "
                    "(JANGKAU_K_ANONYMITY).")
    reach: list[AreaReach] = strawberry.field(
        resolver=reach,
        description="For every area of the level, by code: the share of its land within "
                    "radiusMeters of an activity of the period (exact union of the circles).")
    gaps: list[AreaGap] = strawberry.field(
        resolver=gaps,
        description="Areas of the level with fewer than minActivities activities in the period: "
                    "fewest first, then by code.")
    last_activity_date: dt.date | None = strawberry.field(
        resolver=last_activity_date,
        description="The WIB day of the newest activity the filter counts, in any period (the "
                    "filter's own period is ignored); null when there is none. A map with an "
                    "empty period offers the last one with activity.")
    nearest_activities: list[NearestActivity] = strawberry.field(
        resolver=nearest_activities,
        description="The `limit` (1..1000) activities nearest to (lon, lat), nearest first by "
                    "distance on the WGS84 spheroid.")
    activities: ActivityConnection = strawberry.field(
        resolver=list_activities, description="Activities, newest first, in pages.")
    activity: Activity | None = strawberry.field(resolver=get_activity)
    flagged_activities: ActivityConnection = strawberry.field(
        resolver=flagged_activities,
        description="Activities with plausibility flags awaiting review (or in the given "
                    "review states), newest first or by confidence (orderBy), in pages.")
    staff: Staff | None = strawberry.field(resolver=get_staff)
    team: TeamConnection = strawberry.field(
        resolver=team,
        description="One row per staff member of the unit (and the units below it) who is "
                    "active or has a record in the period, zeros included, by unit code, name "
                    "and id, in pages. Supervisors: their own units; admins: any unit.")
    units: list[Unit] = strawberry.field(resolver=list_units)
    service_categories: list[Category] = strawberry.field(resolver=list_categories)
    indicators: list[Indicator] = strawberry.field(resolver=list_indicators)
    access_log: AccessLogConnection = strawberry.field(
        resolver=list_access_log,
        description="Admins only: every read of another person's individual location, one "
                    "entry per request and person, newest first, in pages (UU 27/2022).")


@strawberry.type
class Mutation:
    record_activity: RecordResult = strawberry.mutation(
        resolver=record_activity, description="Idempotent on input.id.")
    record_activities: list[RecordResult] = strawberry.mutation(
        resolver=record_activities,
        description="Offline sync: one result per item, in order; safe to resend whole.")
    set_target: Target = strawberry.mutation(
        resolver=set_target,
        description="A target for an area (admins) or for one staff member (admins, and "
                    "supervisors for their units' staff): exactly one of areaCode, staffId.")
    set_unit_office: Unit = strawberry.mutation(
        resolver=set_unit_office,
        description="Admins: place a unit's office (a GeoJSON Point), or forget it with null (or "
                    "no location); team fieldShare measures from it.")
    resolve_flags: Activity = strawberry.mutation(
        resolver=resolve_flags,
        description="Accept or reject an activity's flags; the reason (1..1000 characters) is "
                    "kept in its review history. Accepted activities count in coverage.")
    contest_flags: Activity = strawberry.mutation(
        resolver=contest_flags,
        description="The record's own staff member contests its flags (or the one named) with "
                    "a note (1..1000 characters), kept in its review history for the "
                    "supervisor; a rejected record is reviewed again.")


@strawberry.type
class Subscription:
    activity_recorded = strawberry.subscription(
        resolver=activity_recorded,
        description="Each activity the caller may read (same rules as `activities`), as it is "
                    "stored; `since` first replays those received after it. `filter.near` is "
                    "not available live (use within or bbox).")
    coverage_changed = strawberry.subscription(
        resolver=coverage_changed,
        description="The areas of the level whose figures for the period changed, with their "
                    "new figures (same rules as `coverage`); at most one message a second, "
                    "changes in between merged.")


# Every root field gets graph.permissions' guard: one without a declared rule is refused.
protect(Query, Mutation, Subscription)


class JangkauSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        # Expected refusals are the client's business; only bugs are logged, with their trace.
        log_unexpected(errors)
        for error in errors:    # WebSocket messages carry errors as they are: code them here
            formatted = format_error(error)
            error.message = formatted["message"]
            error.extensions = formatted["extensions"]


class PrimaryForWrites(SchemaExtension):
    """A mutation reads and writes the primary only, so what it answers includes what it wrote;
    only queries may be served by a read replica (graph.context.Context.reader)."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.operation_type is not OperationType.QUERY and isinstance(ec.context, Context):
            ec.context.primary = True
        yield


Guard = Callable[[], SchemaExtension]


def build_schema(guards: Sequence[Guard] = (), **extra: Any) -> strawberry.Schema:
    """The schema; `guards` are the extensions of one app's settings (see graph.limits)."""
    return JangkauSchema(query=Query, mutation=Mutation, subscription=Subscription,
                         config=StrawberryConfig(scalar_map=SCALARS),
                         # strawberry types it as graphql-core's Executor, which it is
                         execution_context_class=CompilingExecutor,  # type: ignore[arg-type]
                         extensions=[lambda: ParserCache(maxsize=256),
                                     lambda: ValidationCache(maxsize=256), PrimaryForWrites,
                                     *guards], **extra)


schema = build_schema()
