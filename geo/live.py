"""What changed, for live subscribers: the activities named by a notification, with the facts a
subscriber's filter is judged on, and a matcher that judges them in memory.

One query reads a whole notification batch (`changes`); each subscriber's filter is resolved once,
when it subscribes (`matcher`), into ids and bounds, so fanning a batch out to a thousand
subscribers costs no query per subscriber. The matcher follows `geo.filters.build_where` clause
by clause; `near` (a distance on the spheroid) is not offered live: use `within` or `bbox`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import shapely
from shapely import Point
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.activities import COLUMNS, ActivityRow
from geo.errors import BadInput
from geo.filters import ActivityFilter, Where, ids_of

CHANNEL = "jangkau_activities"
EVERYTHING = "*"        # the payload of a statement too large to name its rows (0010_notify)
COUNTED = frozenset({"NONE", "ACCEPTED"})


@dataclass(frozen=True)
class Change:
    """A stored activity and the facts a filter needs beyond its row."""

    row: ActivityRow
    inserted: bool            # new in this batch (else an update: flags, review, area)
    unit_id: int
    areas: frozenset[int]     # its kelurahan and every area above it; empty outside them
    lon: float
    lat: float


def parse_payload(payload: str) -> tuple[bool, list[uuid.UUID]] | None:
    """Whether a notification's ids were inserted (else updated), and the ids; None for
    EVERYTHING."""
    if payload == EVERYTHING:
        return None
    kind, _, ids = payload.partition(":")
    return kind == "i", [uuid.UUID(p) for p in ids.split(",") if p]


async def changes(conn: AsyncConnection, ids: Sequence[uuid.UUID],
                  inserted: set[uuid.UUID]) -> list[Change]:
    """The activities `ids` (those in `inserted` new), oldest received first, in one query."""
    rows = await conn.execute(text(f"""
        SELECT {COLUMNS}, s.unit_id, ST_X(a.geom), ST_Y(a.geom),
               coalesce((SELECT array_agg(c.ancestor_id) FROM area_closure c
                         WHERE c.descendant_id = a.area_id), '{{}}')
        FROM activities a JOIN staff s ON s.id = a.staff_id
        WHERE a.id = ANY(:ids)
        ORDER BY a.received_at, a.id"""), {"ids": list(ids)})
    found: Sequence[tuple[Any, ...]] = rows.all()
    n = len(fields(ActivityRow))     # the ActivityRow columns come first
    return [Change(ActivityRow(*r[:n]), r[0] in inserted, r[n], frozenset(r[n + 3]), r[n + 1],
                   r[n + 2]) for r in found]


async def received_since(conn: AsyncConnection, where: Where, since: datetime,
                         limit: int) -> list[ActivityRow]:
    """Activities received after `since` that `where` selects, oldest first: a resuming
    subscriber's catch-up."""
    rows = await conn.execute(text(f"""
        SELECT {COLUMNS} FROM activities a
        WHERE {where.sql} AND a.received_at > :since
        ORDER BY a.received_at, a.id LIMIT :lim"""), {**where.params, "since": since,
                                                     "lim": limit})
    found: Sequence[tuple[Any, ...]] = rows.all()
    return [ActivityRow(*r) for r in found]


@dataclass(frozen=True)
class Matcher:
    """An ActivityFilter resolved to ids: `matches` needs no database."""

    f: ActivityFilter
    area_id: int | None = None
    city: bool = False                        # the area filter is the whole city
    units: frozenset[int] | None = None

    def matches(self, c: Change) -> bool:
        f, r = self.f, c.row
        if f.review is not None:
            if r.review == "NONE" or r.review not in f.review:
                return False
        elif not f.include_flagged and r.review not in COUNTED:
            return False
        if f.period is not None and not f.period.t0 <= r.started_at < f.period.t1:
            return False
        if self.area_id is not None and self.area_id not in c.areas and not (
                self.city and not c.areas):
            return False
        if f.within is not None and not shapely.covers(f.within, Point(c.lon, c.lat)):
            return False
        if f.bbox is not None:
            x0, y0, x1, y1 = f.bbox
            if not (x0 <= c.lon <= x1 and y0 <= c.lat <= y1):
                return False
        if self.units is not None and c.unit_id not in self.units:
            return False
        if f.staff_id is not None and r.staff_id != f.staff_id:
            return False
        if f.staff_ids is not None and r.staff_id not in f.staff_ids:
            return False
        if f.category is not None and r.category != f.category:
            return False
        return f.outcome_met is None or r.outcome_met == f.outcome_met


async def matcher(conn: AsyncConnection, f: ActivityFilter) -> Matcher:
    """Resolve `f`'s codes once (unknown codes are NOT_FOUND, as in a query)."""
    if f.near is not None:
        raise BadInput("filter.near is not available on a subscription: use within or bbox")
    ids = await ids_of(conn, f)     # the same lookup and errors as a query's
    area_id, city = (ids.area[0], ids.area[1] == "CITY") if ids.area else (None, False)
    if ids.category is not None:      # typed in any case: compared as stored
        f = replace(f, category=ids.category)
    if f.within is not None:
        shapely.prepare(f.within)
    units = frozenset(ids.units) if ids.units is not None else None
    return Matcher(f, area_id, city, units)
