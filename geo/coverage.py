"""Coverage and target attainment per area: one aggregate query per level, zeros included.

Counts roll up through `area_closure`, so a kecamatan's figures are the sums of its kelurahan's,
while distinct staff are counted distinctly at every level. Activities outside every kelurahan
count at CITY level only.

Targets: an area's target for an indicator over a period is the sum of the targets set on it
and on the areas inside it, each prorated by the share of its own period that the asked period
covers; the actual is the number of met outcomes of that indicator in the overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.filters import ActivityFilter, build_where
from geo.periods import Period


@dataclass(frozen=True)
class Coverage:
    area_id: int
    activities: int
    staff: int
    citizens: int
    outcomes_met: int
    last_at: datetime | None
    area_m2: float

    @property
    def outcome_rate(self) -> float | None:
        return self.outcomes_met / self.activities if self.activities else None

    @property
    def per_km2(self) -> float:
        return self.activities / (self.area_m2 / 1e6) if self.area_m2 else 0.0


@dataclass(frozen=True)
class Attainment:
    area_id: int
    indicator: str
    target: float
    actual: int

    @property
    def ratio(self) -> float:
        return self.actual / self.target

    @property
    def met(self) -> bool:
        return self.actual >= self.target


def _scope(level: str) -> str:
    """Areas of the level that a query covers: all, or those on the path of :scope_area."""
    return """SELECT id FROM areas WHERE level = :level AND (CAST(:scope_area AS integer) IS NULL
        OR id IN (SELECT descendant_id FROM area_closure WHERE ancestor_id = :scope_area)
        OR id IN (SELECT ancestor_id FROM area_closure WHERE descendant_id = :scope_area))"""


async def _scope_area(conn: AsyncConnection, f: ActivityFilter | None) -> int | None:
    if f is None or f.area_code is None:
        return None
    return await conn.scalar(text("SELECT id FROM areas WHERE code = :c"), {"c": f.area_code})


async def coverage(conn: AsyncConnection, level: str, period: Period,
                   f: ActivityFilter | None) -> list[Coverage]:
    """One row per area of `level` (within the filter's area, if any), ordered by code."""
    f = f or ActivityFilter()
    where = await build_where(conn, f, with_period=False)
    # Outside every kelurahan: counted by the (first) city, and by no lower level.
    outside = "(SELECT min(id) FROM lv)" if level == "CITY" else "NULL"
    sql = f"""
        WITH lv AS ({_scope(level)}),
        act AS (
            SELECT a.area_id, a.staff_id, a.citizens_served, a.outcome_met, a.started_at
            FROM activities a WHERE a.started_at >= :t0 AND a.started_at < :t1 AND {where.sql}
        ),
        agg AS (
            SELECT lv.id, count(*) AS n, count(DISTINCT act.staff_id) AS staff,
                   sum(act.citizens_served) AS citizens,
                   count(*) FILTER (WHERE act.outcome_met) AS met, max(act.started_at) AS last_at
            FROM act
            LEFT JOIN area_closure c
                   ON c.descendant_id = act.area_id AND c.ancestor_id IN (SELECT id FROM lv)
            JOIN lv ON lv.id = coalesce(c.ancestor_id, {outside})
            GROUP BY lv.id
        )
        SELECT x.id, coalesce(agg.n, 0), coalesce(agg.staff, 0), coalesce(agg.citizens, 0),
               coalesce(agg.met, 0), agg.last_at, x.area_m2
        FROM areas x JOIN lv ON lv.id = x.id LEFT JOIN agg ON agg.id = x.id
        ORDER BY x.code
    """
    params = {**where.params, "t0": period.t0, "t1": period.t1, "level": level,
              "scope_area": await _scope_area(conn, f)}
    rows = await conn.execute(text(sql), params)
    return [Coverage(*r) for r in rows.all()]


async def attainment(conn: AsyncConnection, level: str, period: Period,
                     f: ActivityFilter | None) -> list[Attainment]:
    """Target attainment per area of `level` and indicator, for targets overlapping `period`."""
    f = f or ActivityFilter()
    where = await build_where(conn, f, with_period=False)
    sql = f"""
        WITH lv AS ({_scope(level)}),
        tg AS (
            SELECT t.id, t.indicator_code, t.area_id, t.target_value, t.period,
                   t.period * daterange(:d0, :d1, '[]') AS overlap
            FROM targets t
            WHERE t.period && daterange(:d0, :d1, '[]')
              AND t.area_id IN (SELECT descendant_id FROM area_closure WHERE ancestor_id IN (SELECT id FROM lv))
        ),
        met AS (
            SELECT a.area_id, a.outcome_code, (a.started_at AT TIME ZONE 'Asia/Jakarta')::date AS d,
                   count(*) AS n
            FROM activities a
            WHERE a.started_at >= :t0 AND a.started_at < :t1 AND a.outcome_met AND {where.sql}
              AND a.outcome_code IN (SELECT indicator_code FROM tg)
            GROUP BY 1, 2, 3
        ),
        actual AS (
            SELECT tg.id, coalesce(sum(met.n), 0) AS n
            FROM tg
            JOIN area_closure d ON d.ancestor_id = tg.area_id
            LEFT JOIN met ON met.area_id = d.descendant_id AND met.outcome_code = tg.indicator_code
                         AND met.d <@ tg.overlap
            GROUP BY tg.id
        )
        SELECT c.ancestor_id, tg.indicator_code,
               sum(tg.target_value * (upper(tg.overlap) - lower(tg.overlap))::float8
                   / (upper(tg.period) - lower(tg.period))) AS target,
               sum(actual.n)::bigint AS actual
        FROM tg JOIN actual USING (id)
        JOIN area_closure c ON c.descendant_id = tg.area_id AND c.ancestor_id IN (SELECT id FROM lv)
        GROUP BY 1, 2 ORDER BY 1, 2
    """
    params = {**where.params, "t0": period.t0, "t1": period.t1, "d0": period.start,
              "d1": period.end, "level": level, "scope_area": await _scope_area(conn, f)}
    rows = await conn.execute(text(sql), params)
    return [Attainment(*r) for r in rows.all()]
