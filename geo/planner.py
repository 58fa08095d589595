"""Planners' views: activity hexbins, service reach per area, and the areas left behind (gaps).

Hexbins. Flat-topped hexagons of edge (= circumradius) `size` metres on UTM 49S (EPSG:32749),
in ST_Hexagon's layout (origin 0,0): cell (i, j) is centred at (1.5·i·size, √3·size·(j + i/2
for odd i)). Each activity goes to the cell with the nearest centre, found by rounding its
axial coordinates ("cube rounding"), so every activity lands in exactly one cell even on an edge
— no spatial join that could count it twice. Only non-empty cells are drawn.

Reach is exact up to the circle's polygon: the land within r of the activities is the union of
their disks (ST_Buffer: 32-gons inscribed in the circle, at most 0.64 % short of the circle's
area) in EPSG:32749, intersected with each area. Exact rather than a grid: the answer does not
move with a grid's origin, tests can hold it to shapely's union of the same circles, and a grid
fine enough for 100 m radii (10 m) would sample ~3 million points of the city. The union is what
costs (GEOS: tens of µs a disk), so disks that cannot change it are left out first, without
changing the result: cells of side c = r·cos(π/32)/√2 are small enough that an occupied cell
lies inside the 32-gon of any point in it; a point whose cell's 5 × 5 block of cells is all
occupied has its whole disk (r < 2c) inside that block, so its disk is left out and the block's
cells go into the union as squares instead. On the demo data at 500 m that drops about half the
disks and makes the union 2-3 times faster; at small radii few blocks are full and it gains
little.
Shares are taken in the projection (reached / whole, both in EPSG:32749), and reachedKm2 is the
share of the area's spheroidal area (`areas.area_m2`): a share of 1 is all of `areaKm2`.

Gaps: days since the last activity are WIB days from the *period's last day*, not from today,
so a report on a past month reads the same whenever it is asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.areas import PRECISION
from geo.coverage import coverage
from geo.errors import BadInput, LimitExceeded
from geo.filters import MAX_RADIUS_M, ActivityFilter, build_where
from geo.periods import Period, wib_date

UTM = 32749
MIN_CELL_M, MAX_CELL_M = 50.0, 20_000.0
MAX_CELLS = 10_000
# The side of a cell that fits inside the 32-gon ST_Buffer draws around any point of it.
CELL_PER_RADIUS = math.cos(math.pi / 32) / math.sqrt(2)


def check_cell_size(size: float) -> float:
    if not math.isfinite(size) or size <= 0:
        raise BadInput(f"cellSizeMeters must be a positive number, got {size}")
    if not MIN_CELL_M <= size <= MAX_CELL_M:
        raise LimitExceeded(f"cellSizeMeters {size:g} is outside {MIN_CELL_M:g}..{MAX_CELL_M:g} "
                            "(the hexagon's edge, in metres)")
    return size


def check_radius(radius: float) -> float:
    if not math.isfinite(radius) or radius < 0:
        raise BadInput(f"radiusMeters must be a non-negative number, got {radius}")
    if radius > MAX_RADIUS_M:
        raise LimitExceeded(f"radiusMeters {radius:g} exceeds the maximum of {MAX_RADIUS_M:.0f}")
    return radius


HEXBIN_SQL = """
    WITH xy AS (
        SELECT ST_X(p) / :size AS x, ST_Y(p) / :size AS y, a.citizens_served, a.outcome_met,
               a.staff_id
        FROM activities a CROSS JOIN LATERAL ST_Transform(a.geom, {utm}) AS p
        WHERE a.started_at >= :t0 AND a.started_at < :t1 AND {where}
    ),
    axial AS (
        SELECT q, r, round(q) AS rq, round(r) AS rr, round(-q - r) AS rs, citizens_served,
               outcome_met, staff_id
        FROM (SELECT x * 2 / 3 AS q, y / sqrt(3) - x / 3 AS r, citizens_served, outcome_met,
                     staff_id
              FROM xy) f
    ),
    cube AS (  -- of the three rounded cube coordinates, recompute the one that moved most
        SELECT CASE WHEN dq > dr AND dq > ds THEN -rr - rs ELSE rq END AS q,
               CASE WHEN dq > dr AND dq > ds THEN rr WHEN dr > ds THEN -rq - rs ELSE rr END AS r,
               citizens_served, outcome_met, staff_id
        FROM (SELECT *, abs(rq - q) AS dq, abs(rr - r) AS dr, abs(rs + q + r) AS ds FROM axial) d
    ),
    bins AS (
        SELECT q::int AS i, (r + floor(q / 2))::int AS j, count(*) AS n,
               sum(citizens_served) AS citizens, count(*) FILTER (WHERE outcome_met) AS met
        FROM cube GROUP BY 1, 2
        HAVING count(*) >= :min_count AND count(DISTINCT staff_id) >= :min_staff
    )
    SELECT (SELECT count(*) FROM bins) AS cells,
           CASE WHEN (SELECT count(*) FROM bins) <= :max_cells THEN (
               SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(
                   json_agg(json_build_object(
                       'type', 'Feature',
                       'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(ST_Transform(ST_Hexagon(
                           :size, i, j, ST_SetSRID(ST_MakePoint(0, 0), {utm})), 4326)),
                           {precision})::json,
                       'properties', json_build_object(
                           'activities', n, 'citizensServed', citizens, 'outcomesMet', met,
                           'outcomeRate', round(met::numeric / n, 6)))
                   ORDER BY i, j), '[]'::json))::text
               FROM bins) END AS collection
"""


async def hexbins(conn: AsyncConnection, period: Period, f: ActivityFilter | None, size: float,
                  min_count: int, max_cells: int = MAX_CELLS, min_staff: int = 0) -> str:
    """A FeatureCollection (JSON text) of the hexagons holding at least `min_count` activities
    by at least `min_staff` distinct staff (geo.anonymity): the others are left out."""
    check_cell_size(size)
    where = await build_where(conn, f, with_period=False)
    sql = HEXBIN_SQL.format(utm=UTM, where=where.sql, precision=PRECISION)
    row = (await conn.execute(text(sql), {
        **where.params, "t0": period.t0, "t1": period.t1, "size": size,
        "min_count": min_count, "max_cells": max_cells, "min_staff": min_staff})).one()
    if row.collection is None:
        raise LimitExceeded(f"{row.cells} hexagons of {size:g} m is more than the maximum of "
                            f"{max_cells}: use larger cells, a shorter period or a filter")
    result: str = row.collection
    return result


@dataclass(frozen=True)
class Reach:
    area_id: int
    share: float
    reached_m2: float
    activities: int


REACH_SQL = """
    WITH lv AS MATERIALIZED (
        SELECT id, code, area_m2, ST_Transform(geom, {utm}) AS g FROM areas WHERE level = :level
    ),
    pts AS MATERIALIZED (
        SELECT ST_Transform(a.geom, {utm}) AS g, a.area_id FROM activities a
        WHERE a.started_at >= :t0 AND a.started_at < :t1 AND {where}
    ),
    cells AS MATERIALIZED (
        SELECT g, floor(ST_X(g) / :cell)::bigint AS i, floor(ST_Y(g) / :cell)::bigint AS j
        FROM pts WHERE :radius > 0
    ),
    occupied AS MATERIALIZED (SELECT DISTINCT i, j FROM cells),
    covered AS (  -- cells whose 5 x 5 block is all occupied: their points' disks add nothing
        SELECT o.i - di AS i, o.j - dj AS j FROM occupied o
        CROSS JOIN generate_series(-2, 2) AS di CROSS JOIN generate_series(-2, 2) AS dj
        GROUP BY 1, 2 HAVING count(*) = 25
    ),
    shapes AS (
        SELECT ST_Buffer(c.g, :radius) AS g FROM cells c
        WHERE NOT EXISTS (SELECT 1 FROM covered v WHERE v.i = c.i AND v.j = c.j)
        UNION ALL  -- the blocks of the covered cells, which hold their points' disks
        SELECT ST_MakeEnvelope(i * :cell, j * :cell, (i + 1) * :cell, (j + 1) * :cell, {utm})
        FROM (SELECT DISTINCT v.i + di AS i, v.j + dj AS j FROM covered v
              CROSS JOIN generate_series(-2, 2) AS di CROSS JOIN generate_series(-2, 2) AS dj) b
    ),
    reached AS (SELECT ST_Subdivide(ST_Union(g), 256) AS g FROM shapes),
    parts AS (SELECT id, ST_Subdivide(g, 256) AS g FROM lv),
    hit AS (
        SELECT p.id, sum(ST_Area(ST_Intersection(p.g, r.g))) AS m2
        FROM parts p JOIN reached r ON p.g && r.g GROUP BY p.id
    ),
    counted AS (  -- activities in the area; outside every kelurahan, the city's (as in coverage)
        SELECT coalesce(c.ancestor_id, CASE WHEN :level = 'CITY' THEN (SELECT min(id) FROM lv) END)
               AS id, count(*) AS n
        FROM pts LEFT JOIN area_closure c
             ON c.descendant_id = pts.area_id AND c.ancestor_id IN (SELECT id FROM lv)
        GROUP BY 1
    )
    SELECT lv.id, least(coalesce(hit.m2, 0) / ST_Area(lv.g), 1) AS share, lv.area_m2,
           coalesce(counted.n, 0) AS n
    FROM lv LEFT JOIN hit ON hit.id = lv.id LEFT JOIN counted ON counted.id = lv.id
    ORDER BY lv.code
"""


async def reach(conn: AsyncConnection, level: str, period: Period, radius: float,
                f: ActivityFilter | None) -> list[Reach]:
    """Every area of `level`, by code: the share of its land within `radius` metres of an
    activity of the period."""
    check_radius(radius)
    where = await build_where(conn, f, with_period=False)
    sql = REACH_SQL.format(utm=UTM, where=where.sql)
    rows = await conn.execute(text(sql), {
        **where.params, "t0": period.t0, "t1": period.t1, "level": level, "radius": radius,
        "cell": radius * CELL_PER_RADIUS if radius > 0 else 1.0})   # no cells when r = 0
    return [Reach(r.id, r.share, r.share * r.area_m2, r.n) for r in rows.all()]


@dataclass(frozen=True)
class Gap:
    area_id: int
    activities: int
    last_at: datetime | None
    days_since: int | None
    staff: int                  # distinct staff of the period's activities


LAST_SQL = """
    WITH lv AS (SELECT id FROM areas WHERE level = :level),
    kel AS (
        SELECT k.id, (SELECT max(a.started_at) FROM activities a
                      WHERE a.area_id = k.id AND a.started_at < :t1 AND {where}) AS last_at
        FROM areas k WHERE k.level = 'KELURAHAN'
    )
    SELECT id, max(last_at) FROM (
        SELECT c.ancestor_id AS id, kel.last_at FROM kel
        JOIN area_closure c ON c.descendant_id = kel.id AND c.ancestor_id IN (SELECT id FROM lv)
        UNION ALL  -- outside every kelurahan: the city's, as in coverage
        SELECT (SELECT min(id) FROM lv), max(a.started_at) FROM activities a
        WHERE :level = 'CITY' AND a.area_id IS NULL AND a.started_at < :t1 AND {where}
    ) x GROUP BY id
"""


async def gaps(conn: AsyncConnection, level: str, period: Period, min_activities: int,
               f: ActivityFilter | None = None) -> list[Gap]:
    """Areas of `level` with fewer than `min_activities` activities in the period (of those `f`
    selects): fewest first, then by code."""
    if min_activities < 0:
        raise BadInput(f"minActivities must not be negative, got {min_activities}")
    counts = await coverage(conn, level, period, f)   # by code
    # The activities that count by default, as there; the period is LAST_SQL's own.
    where = await build_where(conn, f, with_period=False)
    last: dict[int, datetime] = dict((await conn.execute(text(LAST_SQL.format(where=where.sql)), {
        **where.params, "level": level, "t1": period.t1})).all())
    out = []
    for c in counts:
        if c.activities < min_activities:
            at = last.get(c.area_id)
            days = (period.end - wib_date(at)).days if at is not None else None
            out.append(Gap(c.area_id, c.activities, at, days, c.staff))
    return sorted(out, key=lambda g: g.activities)   # stable: ties stay in code order
