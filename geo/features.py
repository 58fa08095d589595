"""Feature pages for OGC API – Features: areas with their figures, and activity points.

PostgreSQL writes every Feature (RFC 7946, 6 decimals, exterior rings counter-clockwise); the
API puts the page's Features into its FeatureCollection unparsed. Area figures come from
`geo.choropleth`'s properties over `geo.coverage`'s select list, so they are those of GraphQL's
`coverage` and `coverageMap`. Pages are ordered (areas by code, activities newest first) and
cut with LIMIT/OFFSET; `matched` counts every feature the query selects.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.areas import PRECISION
from geo.choropleth import AREA_JOINS, area_properties, figures_ctes, iso_wib
from geo.coverage import prepare
from geo.filters import ActivityFilter, build_where
from geo.periods import Period

AREA_PROPERTIES = ("code", "name", "level", "areaKm2", "activities", "distinctStaff",
                   "citizensServed", "outcomesMet", "outcomeRate", "lastActivityAt",
                   "activitiesPerKm2", "attainment", "attainmentRatio")
ACTIVITY_PROPERTIES = ("startedAt", "endedAt", "category", "citizensServed", "outcome",
                       "outcomeMet", "areaCode", "staffId", "review")
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Page:
    """Features as JSON texts, in order, and how many the query selects in all."""

    matched: int
    features: list[str]


@dataclass(frozen=True)
class ActivityPage(Page):
    read: list[tuple[uuid.UUID, uuid.UUID]]   # (activity, its staff member): for the access log


def _only(properties: str, keep: Sequence[str] | None) -> str:
    """SQL: the json object `properties`, cut to the keys :keep when a selection is given."""
    if keep is None:
        return properties
    return f"""(SELECT coalesce(json_object_agg(e.key, e.value), '{{}}'::json)
                FROM json_each({properties}) e WHERE e.key = ANY(:keep))"""


async def areas_page(conn: AsyncConnection, level: str, period: Period, f: ActivityFilter | None,
                     *, bbox: Box | None, code: str | None, limit: int, offset: int,
                     keep: Sequence[str] | None, min_staff: int) -> Page:
    """Areas of `level` (one, when `code` is given) intersecting `bbox`, with the period's
    figures under filter `f`."""
    prep = await prepare(conn, level, period, f)
    sql = f"""
        WITH {figures_ctes(level, prep)},
        sel AS (
            SELECT x.id, x.code FROM cov JOIN areas x ON x.id = cov.id
            WHERE (CAST(:code AS text) IS NULL OR x.code = :code)
              -- An API key confined to some areas sees those, what lies in them, and what
              -- contains them (with the figures of its areas only: the filter says so).
              AND (CAST(:scope AS text[]) IS NULL OR x.id IN (
                   SELECT c.descendant_id FROM area_closure c JOIN areas s
                       ON s.id = c.ancestor_id WHERE s.code = ANY(:scope)
                   UNION SELECT c.ancestor_id FROM area_closure c JOIN areas s
                       ON s.id = c.descendant_id WHERE s.code = ANY(:scope)))
              AND (CAST(:bx0 AS float8) IS NULL
                   OR ST_Intersects(x.geom, ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)))
        ),
        page AS (SELECT id FROM sel ORDER BY code LIMIT :lim OFFSET :off),
        features AS (
            SELECT x.code, json_build_object(
                'type', 'Feature', 'id', x.code,
                'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(x.geom), {PRECISION})::json,
                'properties', {_only(area_properties(), keep)})::text AS feature
            {AREA_JOINS}
            WHERE x.id IN (SELECT id FROM page)
        )
        -- The page's features by code, then one last row with the count (also when the page
        -- is empty, past the end).
        SELECT NULL::bigint, code, feature FROM features
        UNION ALL SELECT count(*), NULL, NULL FROM sel
        ORDER BY 2 NULLS LAST"""
    x0, y0, x1, y1 = bbox or (None, None, None, None)
    scope = sorted(f.area_scope) if f is not None and f.area_scope else None
    rows: Sequence[Any] = (await conn.execute(text(sql), {
        **prep.params, "code": code, "scope": scope, "bx0": x0, "by0": y0, "bx1": x1, "by1": y1,
        "lim": limit, "off": offset, "keep": list(keep or ()), "min_staff": min_staff})).all()
    return Page(int(rows[-1][0]), [r[2] for r in rows[:-1]])


def _activity_feature(keep: Sequence[str] | None) -> str:
    properties = f"""json_build_object(
        'startedAt', {iso_wib('wib.s')},
        'endedAt', CASE WHEN a.ended_at IS NOT NULL
                        THEN {iso_wib('wib.e')} END,
        'category', a.category_code, 'citizensServed', a.citizens_served,
        'outcome', a.outcome_code, 'outcomeMet', a.outcome_met,
        'areaCode', x.code, 'staffId', a.staff_id, 'review', a.review)"""
    return f"""json_build_object(
        'type', 'Feature', 'id', a.id,
        'geometry', ST_AsGeoJSON(a.geom, {PRECISION})::json,
        'properties', {_only(properties, keep)})::text"""


async def activities_page(conn: AsyncConnection, f: ActivityFilter, *, limit: int, offset: int,
                          keep: Sequence[str] | None, one: uuid.UUID | None = None
                          ) -> ActivityPage:
    """Activities under `f` (its period and bbox included), newest first; only `one` when
    given."""
    where = await build_where(conn, f)
    if one is not None:
        where.add("a.id = :one", one=one)
    matched = await conn.scalar(text(f"SELECT count(*) FROM activities a WHERE {where.sql}"),
                                where.params)
    rows = (await conn.execute(text(f"""
        SELECT a.id, a.staff_id, {_activity_feature(keep)}
        FROM activities a
        LEFT JOIN areas x ON x.id = a.area_id
        CROSS JOIN LATERAL (SELECT a.started_at AT TIME ZONE INTERVAL '+07:00' AS s,
                                   a.ended_at AT TIME ZONE INTERVAL '+07:00' AS e) wib
        WHERE {where.sql}
        ORDER BY a.started_at DESC, a.id DESC LIMIT :lim OFFSET :off"""),
        {**where.params, "lim": limit, "off": offset, "keep": list(keep or ())})).all()
    return ActivityPage(int(matched or 0), [r[2] for r in rows], [(r[0], r[1]) for r in rows])
