"""The Schema: root types and the extensions that guard and speed it."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graph.errors import log_unexpected
from graph.scalars import SCALARS
from graph.resolvers.activities import ActivityConnection, get_activity, list_activities
from graph.resolvers.areas import coverage, get_area, list_areas
from graph.resolvers.mutations import record_activities, record_activity, set_target
from graph.resolvers.people import get_staff, list_categories, list_indicators, list_units
from graph.types import (
    Activity,
    Area,
    AreaCoverage,
    Category,
    Indicator,
    RecordResult,
    Staff,
    Target,
    Unit,
)


@strawberry.type
class Query:
    area: Area | None = strawberry.field(resolver=get_area, description="An area by Kemendagri code.")
    areas: list[Area] = strawberry.field(resolver=list_areas, description="Areas, by code.")
    coverage: list[AreaCoverage] = strawberry.field(
        resolver=coverage, description="One row for every area of the level, zeros included.")
    activities: ActivityConnection = strawberry.field(
        resolver=list_activities, description="Activities, newest first, in pages.")
    activity: Activity | None = strawberry.field(resolver=get_activity)
    staff: Staff | None = strawberry.field(resolver=get_staff)
    units: list[Unit] = strawberry.field(resolver=list_units)
    service_categories: list[Category] = strawberry.field(resolver=list_categories)
    indicators: list[Indicator] = strawberry.field(resolver=list_indicators)


@strawberry.type
class Mutation:
    record_activity: RecordResult = strawberry.mutation(
        resolver=record_activity, description="Idempotent on input.id.")
    record_activities: list[RecordResult] = strawberry.mutation(
        resolver=record_activities,
        description="Offline sync: one result per item, in order; safe to resend whole.")
    set_target: Target = strawberry.mutation(resolver=set_target)


class JangkauSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        # Expected refusals are the client's business; only bugs are logged, with their trace.
        log_unexpected(errors)


def build_schema(**extra: Any) -> strawberry.Schema:
    return JangkauSchema(query=Query, mutation=Mutation,
                         config=StrawberryConfig(scalar_map=SCALARS),
                         extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)], **extra)


schema = build_schema()
