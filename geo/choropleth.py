"""coverageMap: a choropleth's GeoJSON FeatureCollection, written whole by PostgreSQL.

One statement joins the coverage and attainment queries of `geo.coverage` (so the figures are
those of `coverage(...)`, computed the same way) to the areas' zoom-band shapes, and returns
the collection as JSON text that goes to the client unparsed. One Feature per area of the
level, zero-activity areas included, ordered by code; `id` is the Kemendagri code.

Properties: code, name, level, areaKm2, activities, distinctStaff, citizensServed,
outcomesMet, outcomeRate (null without activity), lastActivityAt (ISO 8601, +07:00),
activitiesPerKm2, attainment ([{indicator, target, actual, ratio, met}] by indicator) and
attainmentRatio (the mean of those ratios, null without a target). Numbers are full doubles
(the GraphQL `coverage` fields round some of them to 6 decimals for display). Geometry is
RFC 7946: lon/lat, exterior rings counter-clockwise, holes clockwise, 6 decimals (~0.11 m).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.anonymity import identifying
from geo.areas import PRECISION
from geo.coverage import Prepared, attainment_sql, coverage_sql, prepare
from geo.filters import ActivityFilter
from geo.periods import Period
from geo.shapes import Band


def iso_wib(w: str) -> str:
    """SQL: the WIB wall time `w` as Python's isoformat() writes it: seconds, microseconds only
    if any, and +07:00."""
    return f"""to_char({w}, 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN {w} = date_trunc('second', {w}) THEN '' ELSE to_char({w}, '.US') END
    || '+07:00'"""


ISO_WIB = iso_wib("wib.w")


def figures_ctes(level: str, prep: Prepared) -> str:
    """`cov` (coverage rows) and `att_json` (attainment by area): the CTEs that
    `area_properties` reads, for coverageMap and the OGC collections alike."""
    return f"""cov AS ({coverage_sql(level, prep)}),
        att AS ({attainment_sql(prep)}),
        att_json AS (
            SELECT area_id, avg(actual / target) AS mean_ratio,
                   json_agg(json_build_object('indicator', indicator, 'target', target,
                                              'actual', actual, 'ratio', actual / target,
                                              'met', actual >= target)
                            ORDER BY indicator) AS items
            FROM att GROUP BY area_id
        )"""


AREA_JOINS = """FROM cov
            JOIN areas x ON x.id = cov.id
            CROSS JOIN LATERAL (SELECT cov.last_at AT TIME ZONE INTERVAL '+07:00' AS w) wib
            LEFT JOIN att_json t ON t.area_id = x.id"""


def area_properties() -> str:
    """An area's properties as a json object, from `x` (areas), `cov`, `wib` and `t`
    (AREA_JOINS); staff-identifying figures are null below :min_staff."""
    return f"""json_build_object(
                    'code', x.code, 'name', x.name, 'level', x.level,
                    'areaKm2', x.area_m2 / 1e6,
                    'activities', cov.activities,
                    'distinctStaff', {identifying('cov.staff')},
                    'citizensServed', cov.citizens,
                    'outcomesMet', cov.outcomes_met,
                    'outcomeRate', cov.outcome_rate,
                    'lastActivityAt', {identifying(ISO_WIB)},
                    'activitiesPerKm2', cov.per_km2,
                    'attainment', coalesce(t.items, '[]'::json),
                    'attainmentRatio', t.mean_ratio)"""


def map_sql(level: str, prep: Prepared) -> str:
    return f"""
        WITH {figures_ctes(level, prep)},
        features AS (
            SELECT x.code, json_build_object(
                'type', 'Feature',
                'id', x.code,
                'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(s.geom), {PRECISION})::json,
                'properties', {area_properties()}) AS feature
            {AREA_JOINS}
            LEFT JOIN area_shapes s ON s.area_id = x.id AND s.band = :band
        )
        SELECT json_build_object(
            'type', 'FeatureCollection',
            'features', coalesce(json_agg(feature ORDER BY code), '[]'::json))::text
        FROM features
    """


async def coverage_map(conn: AsyncConnection, level: str, period: Period,
                       f: ActivityFilter | None, band: Band, min_staff: int = 0) -> str:
    """The FeatureCollection as JSON text, for the GeoJSON scalar to pass through; areas with
    fewer than `min_staff` distinct staff have null distinctStaff and lastActivityAt."""
    prep = await prepare(conn, level, period, f)
    result = await conn.scalar(text(map_sql(level, prep)),
                               {**prep.params, "band": band.number, "min_staff": min_staff})
    assert isinstance(result, str)
    return result
