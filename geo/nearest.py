"""Nearest activities and distances to areas, in metres on the WGS84 spheroid.

The GiST index orders by planar distance in degrees (`<->`), which is not the order on the
ground: at 7° S a degree of longitude is ~0.08 % shorter than a degree of latitude, and the
spheroid bends both. So `<->` only proposes k candidates; the k-th one's true distance d then
bounds the answer (the true k nearest are all within d), and every activity in a box that
surely holds the circle of radius d is measured exactly and sorted. Ties go by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.activities import COLUMNS, ActivityRow
from geo.errors import BadInput, LimitExceeded
from geo.filters import Where, degrees_for

MAX_LIMIT = 1_000
POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
METRES = f"ST_Distance(CAST(a.geom AS geography), CAST({POINT} AS geography))"


@dataclass(frozen=True)
class Near:
    activity: ActivityRow
    distance_m: float


def check_limit(limit: int) -> int:
    if limit < 1:
        raise BadInput(f"limit must be at least 1, got {limit}")
    if limit > MAX_LIMIT:
        raise LimitExceeded(f"limit {limit} exceeds the maximum of {MAX_LIMIT}")
    return limit


async def nearest(conn: AsyncConnection, lon: float, lat: float, limit: int,
                  where: Where) -> list[Near]:
    """The `limit` activities nearest to (lon, lat) on the ground, nearest first."""
    check_limit(limit)
    params = {**where.params, "lon": lon, "lat": lat, "k": limit}
    bound = await conn.scalar(text(f"""
        SELECT max({METRES}) FROM (
            SELECT a.geom FROM activities a WHERE {where.sql}
            ORDER BY a.geom <-> {POINT} LIMIT :k) a"""), params)
    if bound is None:
        return []
    # A hair wider than d, so that the k-th candidate itself is never lost to rounding.
    dlon, dlat = degrees_for(bound * (1 + 1e-9) + 1e-3, lat)
    rows = await conn.execute(text(f"""
        SELECT {COLUMNS}, {METRES} AS distance_m FROM activities a
        WHERE {where.sql} AND a.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
        ORDER BY distance_m, a.id LIMIT :k"""),
        {**params, "x0": lon - dlon, "y0": lat - dlat, "x1": lon + dlon, "y1": lat + dlat})
    return [Near(ActivityRow(*r[:-1]), r.distance_m) for r in rows.all()]


async def area_distances(conn: AsyncConnection, lon: float, lat: float,
                         ids: Sequence[int]) -> dict[int, float]:
    """Metres from (lon, lat) to each area, on the spheroid; 0 inside."""
    rows = await conn.execute(text(f"""
        SELECT x.id, ST_Distance(CAST(x.geom AS geography), CAST({POINT} AS geography))
        FROM areas x WHERE x.id = ANY(:ids)"""), {"lon": lon, "lat": lat, "ids": list(ids)})
    return dict(rows.all())
