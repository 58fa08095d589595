"""Mapbox vector tiles written by PostGIS (`ST_AsMVT`): areas with their coverage figures, and
activities as points from z13 (unless a tile would hold too many) and as grid clusters below.

Every query finds its rows with `geom && <tile envelope transformed to 4326>`, so the GiST
indexes do the work and no column is transformed to find them. An empty tile is `b""`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import access_log
from geo.access_log import Reader
from geo.anonymity import identifying
from geo.coverage import coverage_sql, prepare
from geo.errors import BadInput
from geo.filters import ActivityFilter, build_where
from geo.periods import Period
from geo.shapes import band_for_zoom

MAX_ZOOM = 22
EXTENT = 4096            # tile units per side
AREA_BUFFER = 64         # tile units drawn beyond the edge, so strokes do not end at it
POINT_BUFFER = 256       # room for a point's symbol drawn from the neighbouring tile
POINTS_MIN_ZOOM = 13     # below this a tile of a busy month is megabytes of points: cluster
MAX_POINTS = 5_000       # ~63 bytes a point: a tile that would hold more is clustered too
CELLS = 32               # clusters on a 32 x 32 grid a tile: 16 px cells on a 512-px tile


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int

    def params(self) -> dict[str, int]:
        return {"z": self.z, "x": self.x, "y": self.y}

    def lonlat_box(self) -> dict[str, float]:
        """The tile in lon/lat, and its top and height in mercator units (asinh(tan(lat)))."""
        n = 2**self.z
        m_north, m_south = (math.pi * (1 - 2 * y / n) for y in (self.y, self.y + 1))
        return {"west": self.x / n * 360 - 180, "east": (self.x + 1) / n * 360 - 180,
                "north": math.degrees(math.atan(math.sinh(m_north))),
                "south": math.degrees(math.atan(math.sinh(m_south))),
                "m_north": m_north, "m_side": m_north - m_south}


def _int(name: str, raw: str, hi: int, where: str = "") -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or int(raw) > hi:
        raise BadInput(f"tile {name} must be an integer in 0..{hi}{where}, got {raw!r:.30}")
    return int(raw)


def parse_tile(z: str, x: str, y: str) -> Tile:
    """z/x/y as they come in a URL, checked: z in 0..22, x and y in 0..2^z-1."""
    zoom = _int("z", z, MAX_ZOOM)
    hi = 2**zoom - 1
    return Tile(zoom, _int("x", x, hi, f" at z={zoom}"), _int("y", y, hi, f" at z={zoom}"))


@dataclass(frozen=True)
class Layer:
    """What a tile layer carries, for TileJSON's `vector_layers`."""

    id: str
    description: str
    fields: dict[str, str]


AREAS = Layer("areas", "Areas of one level with their coverage figures for the period", {
    "code": "String: Kemendagri code, e.g. 35.78.01.1001",
    "name": "String: the area's name",
    "activities": "Number: activities in the period",
    "distinctStaff": "Number: distinct staff who worked there",
    "citizensServed": "Number: citizens served",
    "outcomesMet": "Number: activities whose outcome was met",
    "outcomeRate": "Number: outcomesMet / activities (absent when there were none)",
    "activitiesPerKm2": "Number: activities per km² of the area",
})
ACTIVITIES = Layer("activities", (
    f"Activities as points from z{POINTS_MIN_ZOOM} in tiles of at most {MAX_POINTS} of them; "
    f"otherwise clusters on a {CELLS} x {CELLS} grid (cluster = true)"), {
    "id": "String: the activity's id (points)",
    "category": "String: service category code (points)",
    "outcomeMet": "Boolean: whether its outcome was met (points)",
    "citizensServed": "Number: citizens served (points), or their sum (clusters)",
    "cluster": "Boolean: true on clusters",
    "count": "Number: activities in the cluster",
    "outcomeRate": "Number: share of the cluster's activities whose outcome was met",
})
LAYERS = {layer.id: layer for layer in (AREAS, ACTIVITIES)}


def _in_tile(column: str, margin: str) -> str:
    """`column` (4326) meets the tile grown by `margin` (a share of its side): the index test."""
    return f"{column} && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {margin}), 4326)"


def _mvt_geom(column: str, buffer: int, clip: bool = True) -> str:
    return (f"ST_AsMVTGeom(ST_Transform({column}, 3857), ST_TileEnvelope(:z, :x, :y), "
            f"{EXTENT}, {buffer}, {str(clip).lower()})")


async def _mvt(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> bytes:
    body = await conn.scalar(text(sql), params)
    return bytes(body or b"")


async def areas_tile(conn: AsyncConnection, tile: Tile, level: str, period: Period,
                     f: ActivityFilter, min_staff: int = 0) -> bytes:
    """Areas of `level` in the tile, drawn from their shapes for the tile's zoom band (so
    neighbours share edges), with the figures of `geo.coverage.coverage`; no distinctStaff
    where fewer than `min_staff` distinct staff worked."""
    prep = await prepare(conn, level, period, f)
    in_tile = _in_tile("s.geom", f"{AREA_BUFFER / EXTENT}")
    if level != "CITY":
        # Only the activities of the areas in the tile: theirs are whole figures, and the
        # others' are not drawn. (The city is in every tile, with the activities outside it.)
        prep = prep.narrowed(f"""a.area_id IN (
            SELECT c.descendant_id FROM area_closure c
            JOIN areas l ON l.id = c.ancestor_id AND l.level = :level
            JOIN area_shapes s ON s.area_id = l.id AND s.band = :band WHERE {in_tile})""")
    sql = f"""
        WITH cov AS ({coverage_sql(level, prep)})
        SELECT ST_AsMVT(t, 'areas', {EXTENT}, 'geom') FROM (
            SELECT {_mvt_geom('s.geom', AREA_BUFFER)} AS geom, x.code, x.name,
                   cov.activities, {identifying('cov.staff')} AS "distinctStaff",
                   cov.citizens AS "citizensServed",
                   cov.outcomes_met AS "outcomesMet",
                   cov.outcome_rate AS "outcomeRate", cov.per_km2 AS "activitiesPerKm2"
            FROM cov JOIN areas x ON x.id = cov.id
            JOIN area_shapes s ON s.area_id = cov.id AND s.band = :band
            WHERE {in_tile}
        ) t WHERE t.geom IS NOT NULL
    """
    return await _mvt(conn, sql, {**prep.params, **tile.params(),
                                  "band": band_for_zoom(tile.z).number, "min_staff": min_staff})


async def activities_tile(conn: AsyncConnection, tile: Tile, period: Period, f: ActivityFilter,
                          max_points: int = MAX_POINTS, reader: Reader | None = None) -> bytes:
    """Activities of the period in the tile: points from z13 when there are at most
    `max_points` of them, clusters otherwise. Points of others read by `reader` go to the
    access log (the caller commits)."""
    where = await build_where(conn, f, with_period=False)
    chosen = f"a.started_at >= :t0 AND a.started_at < :t1 AND {where.sql}"
    params = {**where.params, **tile.params(), "t0": period.t0, "t1": period.t1}
    in_tile = _in_tile("a.geom", f"{POINT_BUFFER / EXTENT}")
    few = tile.z >= POINTS_MIN_ZOOM and await conn.scalar(text(f"""
        SELECT count(*) <= :cap FROM (SELECT 1 FROM activities a WHERE {in_tile} AND {chosen}
                                      LIMIT :cap + 1) n"""), {**params, "cap": max_points})
    if few:
        if reader is not None:
            await access_log.write_where(conn, reader, "tiles/activities",
                                         f"{in_tile} AND {chosen}", params,
                                         {"tile": f"{tile.z}/{tile.x}/{tile.y}"})
        sql = f"""
            SELECT ST_AsMVT(t, 'activities', {EXTENT}, 'geom') FROM (
                SELECT {_mvt_geom('a.geom', POINT_BUFFER)} AS geom, a.id::text AS id,
                       a.category_code AS category, a.outcome_met AS "outcomeMet",
                       a.citizens_served AS "citizensServed"
                FROM activities a
                WHERE {in_tile} AND {chosen}
            ) t WHERE t.geom IS NOT NULL
        """
        return await _mvt(conn, sql, params)
    # Each activity is counted in one tile, the one whose half-open lon/lat box holds it, and in
    # one cell of the tile's grid. Per row only ST_X, ST_Y and one asinh(tan()) are computed:
    # ST_AsMVTGeom on every point cost 3x the time at z10 over a million activities.
    sql = f"""
        SELECT ST_AsMVT(t, 'activities', {EXTENT}, 'geom') FROM (
            SELECT {_mvt_geom('ST_Point(avg(lon), avg(lat), 4326)', 0, clip=False)} AS geom,
                   true AS cluster, count(*) AS count,
                   avg(outcome_met::int)::float8 AS "outcomeRate",
                   sum(citizens_served) AS "citizensServed"
            FROM (
                SELECT ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat, a.outcome_met, a.citizens_served
                FROM activities a
                WHERE {_in_tile('a.geom', f'{1 / EXTENT}')} AND {chosen}
            ) p
            WHERE lon >= :west AND lon < :east AND lat > :south AND lat <= :north
            GROUP BY floor((lon - :west) / (:east - :west) * {CELLS}),
                     least(floor((:m_north - asinh(tan(radians(lat)))) / :m_side * {CELLS}),
                           {CELLS - 1})
        ) t
    """
    return await _mvt(conn, sql, {**params, **tile.lonlat_box()})


async def city_bounds(conn: AsyncConnection) -> tuple[float, float, float, float] | None:
    """[west, south, east, north] of the city areas, or None before boundaries are imported."""
    row = (await conn.execute(text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(geom) AS e FROM areas WHERE level = 'CITY') city"""))).first()
    if row is None or row[0] is None:
        return None
    return (row[0], row[1], row[2], row[3])
