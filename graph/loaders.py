"""DataLoaders, made per request: each batches its keys into one query and answers in key order.

Aggregates are keyed by (area, level, period, filter): all areas asking for the same level,
period and filter share one GROUP BY query.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from geo import (
    activities,
    areas,
    coverage,
    nearest,
    people,
    plausibility,
    population,
    shapes,
    targets,
)
from geo.coverage import Attainment, Coverage
from geo.filters import ActivityFilter
from geo.periods import Period

K = TypeVar("K")
V = TypeVar("V")
G = TypeVar("G")

CoverageKey = tuple[int, str, Period, ActivityFilter | None]
TargetsKey = tuple[int, Period]
DistanceKey = tuple[int, float, float]  # area id, lon, lat
PopulationKey = tuple[int, int]         # area id, year


Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose answer survives the cancellation of one of its awaiters.

    When a non-null field fails, graphql-core cancels its siblings still running. A key asked
    for in two places (a kecamatan as the city's child and as a kelurahan's parent) shares one
    cached future, and cancelling one awaiter cancelled that future for the other too, whose
    CancelledError then escaped the whole request. Each caller awaits a shield of it instead;
    and when every awaiter is gone (a request abandoned at its time bound), the shared future's
    error is still taken, so asyncio does not log it as never retrieved.
    """

    def load(self, key: K) -> Awaitable[V]:
        shared = asyncio.ensure_future(super().load(key))     # strawberry's: a Future already
        shared.add_done_callback(_taken)
        return asyncio.shield(shared)


def _taken(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _by_key(connect: Connect, fetch: Callable[[AsyncConnection, list[K]], Awaitable[dict[K, V]]],
            default: Callable[[], V | None] = lambda: None) -> DataLoader[K, V | None]:
    async def load(keys: Sequence[K]) -> list[V | None]:
        async with connect() as conn:
            found = await fetch(conn, list(keys))
        return [found[k] if k in found else default() for k in keys]
    return SharedLoader(load_fn=load)


def _grouped(connect: Connect, group_of: Callable[[K], G],
             fetch: Callable[[AsyncConnection, G, list[K]], Awaitable[Mapping[K, V]]],
             default: Callable[[], V]) -> DataLoader[K, V]:
    """Keys that share a group (level, period, filter) are answered by one query per group."""
    async def load(keys: Sequence[K]) -> list[V]:
        groups: dict[G, list[K]] = defaultdict(list)
        for k in keys:
            groups[group_of(k)].append(k)
        found: dict[K, V] = {}
        async with connect() as conn:
            for group, members in groups.items():
                found.update(await fetch(conn, group, members))
        return [found.get(k, default()) for k in keys]
    return SharedLoader(load_fn=load)


async def _coverage(conn: AsyncConnection, group: tuple[str, Period, ActivityFilter | None],
                    keys: list[CoverageKey]) -> dict[CoverageKey, coverage.Coverage]:
    level, period, f = group
    rows = {r.area_id: r for r in await coverage.coverage(conn, level, period, f)}
    return {k: rows[k[0]] for k in keys if k[0] in rows}


async def _attainment(conn: AsyncConnection, group: tuple[str, Period, ActivityFilter | None],
                      keys: list[CoverageKey]) -> dict[CoverageKey, list[coverage.Attainment]]:
    level, period, f = group
    by_area: dict[int, list[coverage.Attainment]] = defaultdict(list)
    for row in await coverage.attainment(conn, level, period, f):
        by_area[row.area_id].append(row)
    return {k: by_area.get(k[0], []) for k in keys}


async def _targets(conn: AsyncConnection, period: Period,
                   keys: list[TargetsKey]) -> dict[TargetsKey, list[targets.TargetRow]]:
    found = await targets.for_areas(conn, [k[0] for k in keys], period)
    return {k: found[k[0]] for k in keys}


async def _distances(conn: AsyncConnection, point: tuple[float, float],
                     keys: list[DistanceKey]) -> dict[DistanceKey, float | None]:
    found = await nearest.area_distances(conn, *point, [k[0] for k in keys])
    return {k: found.get(k[0]) for k in keys}


async def _population(conn: AsyncConnection, year: int,
                      keys: list[PopulationKey]) -> dict[PopulationKey, int | None]:
    found = await population.latest(conn, [k[0] for k in keys], year)
    return {k: found.get(k[0]) for k in keys}


class Loaders:
    """`connect` is the request's (graph.context.Context.read): a replica or the primary.

    Each loader is made on first use: a request asks for one or two of them, and making all
    fourteen was a measurable share of a one-row lookup (issue 13).
    """

    def __init__(self, connect: Connect) -> None:
        self.connect = connect

    @cached_property
    def area(self) -> DataLoader[int, areas.AreaRow | None]:
        return _by_key(self.connect, areas.by_ids)

    @cached_property
    def area_by_code(self) -> DataLoader[str, areas.AreaRow | None]:
        return _by_key(self.connect, areas.by_codes)

    @cached_property
    def children(self) -> DataLoader[int, list[areas.AreaRow] | None]:
        return _by_key(self.connect, areas.children, list)

    @cached_property
    def geometry(self) -> DataLoader[int, str | None]:
        return _by_key(self.connect, areas.geometries)

    @cached_property
    def shape(self) -> DataLoader[tuple[int, int], str | None]:
        return _by_key(self.connect, shapes.geometries)

    # Not `coverage.X` below: in this class body `coverage` names the loader, not the module.
    @cached_property
    def coverage(self) -> DataLoader[CoverageKey, Coverage | None]:
        return _grouped(self.connect, lambda k: k[1:], _coverage, lambda: None)

    @cached_property
    def attainment(self) -> DataLoader[CoverageKey, list[Attainment]]:
        return _grouped(self.connect, lambda k: k[1:], _attainment, list)

    @cached_property
    def targets(self) -> DataLoader[TargetsKey, list[targets.TargetRow]]:
        return _grouped(self.connect, lambda k: k[1], _targets, list)

    @cached_property
    def staff(self) -> DataLoader[uuid.UUID, people.StaffRow | None]:
        return _by_key(self.connect, people.staff_by_ids)

    @cached_property
    def unit(self) -> DataLoader[int, people.UnitRow | None]:
        return _by_key(self.connect, people.units_by_ids)

    @cached_property
    def activity(self) -> DataLoader[uuid.UUID, activities.ActivityRow | None]:
        return _by_key(self.connect, activities.by_ids)

    @cached_property
    def reviews(self) -> DataLoader[uuid.UUID, list[plausibility.ReviewRow] | None]:
        return _by_key(self.connect, plausibility.reviews_for, list)

    @cached_property
    def distance(self) -> DataLoader[DistanceKey, float | None]:
        return _grouped(self.connect, lambda k: k[1:], _distances, lambda: None)

    @cached_property
    def population(self) -> DataLoader[PopulationKey, int | None]:
        return _grouped(self.connect, lambda k: k[1], _population, lambda: None)

    def prime_areas(self, rows: Sequence[areas.AreaRow]) -> None:
        """Areas already read need not be read again by id or code."""
        for r in rows:
            self.area.prime(r.id, r)
            self.area_by_code.prime(r.code, r)
