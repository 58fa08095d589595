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
from dataclasses import dataclass, field
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


@dataclass
class Loaders:
    """`connect` is the request's (graph.context.Context.db): a replica or the primary."""

    connect: Connect
    area: DataLoader[int, areas.AreaRow | None] = field(init=False)
    area_by_code: DataLoader[str, areas.AreaRow | None] = field(init=False)
    children: DataLoader[int, list[areas.AreaRow] | None] = field(init=False)
    geometry: DataLoader[int, str | None] = field(init=False)
    shape: DataLoader[tuple[int, int], str | None] = field(init=False)
    # Not `coverage.X`: in this class body `coverage` names the field above, not the module.
    coverage: DataLoader[CoverageKey, Coverage | None] = field(init=False)
    attainment: DataLoader[CoverageKey, list[Attainment]] = field(init=False)
    targets: DataLoader[TargetsKey, list[targets.TargetRow]] = field(init=False)
    staff: DataLoader[uuid.UUID, people.StaffRow | None] = field(init=False)
    unit: DataLoader[int, people.UnitRow | None] = field(init=False)
    activity: DataLoader[uuid.UUID, activities.ActivityRow | None] = field(init=False)
    reviews: DataLoader[uuid.UUID, list[plausibility.ReviewRow] | None] = field(init=False)
    distance: DataLoader[DistanceKey, float | None] = field(init=False)
    population: DataLoader[PopulationKey, int | None] = field(init=False)

    def __post_init__(self) -> None:
        e = self.connect
        self.area = _by_key(e, areas.by_ids)
        self.area_by_code = _by_key(e, areas.by_codes)
        self.children = _by_key(e, areas.children, list)
        self.geometry = _by_key(e, areas.geometries)
        self.shape = _by_key(e, shapes.geometries)
        self.coverage = _grouped(e, lambda k: k[1:], _coverage, lambda: None)
        self.attainment = _grouped(e, lambda k: k[1:], _attainment, list)
        self.targets = _grouped(e, lambda k: k[1], _targets, list)
        self.staff = _by_key(e, people.staff_by_ids)
        self.unit = _by_key(e, people.units_by_ids)
        self.activity = _by_key(e, activities.by_ids)
        self.reviews = _by_key(e, plausibility.reviews_for, list)
        self.distance = _grouped(e, lambda k: k[1:], _distances, lambda: None)
        self.population = _grouped(e, lambda k: k[1], _population, lambda: None)

    def prime_areas(self, rows: Sequence[areas.AreaRow]) -> None:
        """Areas already read need not be read again by id or code."""
        for r in rows:
            self.area.prime(r.id, r)
            self.area_by_code.prime(r.code, r)
