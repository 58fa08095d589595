"""Coverage and target attainment per area: one aggregate query per level, zeros included.

Counts roll up through `area_closure`, so a kecamatan's figures are the sums of its kelurahan's,
while distinct staff are counted distinctly at every level. Activities outside every kelurahan
count at CITY level only.

Targets: an area's target for an indicator over a period is the sum of the targets set on it
and on the areas inside it, each prorated by the share of its own period that the asked period
covers; the actual is the number of met outcomes of that indicator in the overlap. Only area
targets count here (a person's own are geo.team's). With a unit filter, or for a supervisor
(ActivityFilter.indicator_units), attainment lists only the indicators owned by those units: the
figures of a row and its attainment describe the same activities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.filters import ActivityFilter, Ids, ids_of, where_of
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
    outcome_rate: float | None      # outcomes_met / activities; None without activity
    per_km2: float                  # activities per km² of the area


class Attained:
    """A target (prorated to the period) against the met outcomes counted for it: an area's
    (Attainment) or a person's (geo.team.StaffAttainment)."""

    target: float
    actual: int

    @property
    def ratio(self) -> float:
        return self.actual / self.target

    @property
    def met(self) -> bool:
        return self.actual >= self.target


@dataclass(frozen=True)
class Attainment(Attained):
    area_id: int
    indicator: str
    target: float
    actual: int


def scope_sql() -> str:
    """Areas of :level that a query covers: all, or those on the path of :scope_area."""
    return """SELECT id FROM areas WHERE level = :level AND (CAST(:scope_area AS integer) IS NULL
        OR id IN (SELECT descendant_id FROM area_closure WHERE ancestor_id = :scope_area)
        OR id IN (SELECT ancestor_id FROM area_closure WHERE descendant_id = :scope_area))"""


@dataclass(frozen=True)
class Prepared:
    """A filter made into SQL for the queries below, and which source they read.

    `where` is a condition on alias `a`. From the base table when the filter needs a row's
    place, staff or outcome; from the rollups (0004) when it asks only for areas and categories:
    the same numbers from a few thousand rows instead of every activity of the period.
    """

    where: str
    params: dict[str, Any]
    rollup: bool
    indicators_scoped: bool = False     # :ind_units holds the units whose indicators count

    def narrowed(self, clause: str) -> Prepared:
        """Also require `clause` (on a.area_id or a.category_code, valid for both sources)."""
        return replace(self, where=f"{self.where} AND {clause}")


def rollup_serves(f: ActivityFilter) -> bool:
    """Whether the rollups hold what `f` asks: counted activities by period, area, category."""
    return (not f.include_flagged and f.review is None and f.within is None and f.bbox is None
            and f.near is None and f.unit_code is None and f.staff_id is None
            and f.staff_ids is None and f.outcome_met is None)


async def prepare(conn: AsyncConnection, level: str, period: Period,
                  f: ActivityFilter | None, *, rollups: bool = True) -> Prepared:
    """The filter's condition and the parameters of the queries below (`rollups=False` reads
    the base table even where the rollups would serve: for tests and benchmarks). Its codes
    are looked up only when `f` does not carry their ids already (geo.filters.Ids)."""
    f = f or ActivityFilter()
    return prepared(level, period, f, await ids_of(conn, f), rollups=rollups)


def prepared(level: str, period: Period, f: ActivityFilter, ids: Ids, *,
             rollups: bool = True) -> Prepared:
    """`prepare` with the codes resolved: pure."""
    rollup = rollups and rollup_serves(f)
    # The rollups hold counted activities only, so their condition leaves out the review.
    where = where_of(replace(f, include_flagged=True) if rollup else f, ids, with_period=False)
    params = {**where.params, "t0": period.t0, "t1": period.t1, "d0": period.start,
              "d1": period.end, "level": level,
              "scope_area": ids.area[0] if ids.area is not None else None}
    # Attainment lists the indicators of the filter's unit subtree, within those
    # authorisation allows; of all units when neither narrows it.
    units = f.indicator_units
    if ids.units is not None:
        units = frozenset(ids.units) if units is None else units & frozenset(ids.units)
    if units is not None:
        params["ind_units"] = sorted(units)
    return Prepared(where.sql, params, rollup, units is not None)


def to_level(source: str, outside: str) -> str:
    """Join rows of `source` (with an area_id) to the area of the level that contains them."""
    return f"""FROM {source}
            LEFT JOIN area_closure c
                   ON c.descendant_id = {source}.area_id AND c.ancestor_id IN (SELECT id FROM lv)
            JOIN lv ON lv.id = coalesce(c.ancestor_id, {outside})"""


def _figures(staff: str) -> str:
    """The columns of a coverage row, from `agg` (n, citizens, met, last_at) and `x` (areas):
    the rates are derived here once, for the API, the choropleth and the tiles alike."""
    return f"""x.id, coalesce(agg.n, 0) AS activities, coalesce({staff}, 0) AS staff,
               coalesce(agg.citizens, 0) AS citizens, coalesce(agg.met, 0) AS outcomes_met,
               agg.last_at, x.area_m2,
               CASE WHEN agg.n > 0 THEN agg.met::float8 / agg.n END AS outcome_rate,
               CASE WHEN x.area_m2 > 0 THEN coalesce(agg.n, 0) / (x.area_m2 / 1e6)
                    ELSE 0 END AS per_km2"""


def _rollup_coverage_sql(outside: str, where: str) -> str:
    return f"""
        WITH lv AS ({scope_sql()}),
        days AS (
            SELECT a.area_id, sum(a.activities)::bigint AS n, sum(a.met)::bigint AS met,
                   sum(a.citizens)::bigint AS citizens, max(a.last_at) AS last_at
            FROM rollup_area_day a WHERE a.day BETWEEN :d0 AND :d1 AND {where}
            GROUP BY a.area_id
        ),
        present AS (
            SELECT DISTINCT a.staff_id, a.area_id FROM rollup_presence a
            WHERE a.days && daterange(:d0, :d1, '[]') AND {where}
        ),
        agg AS (
            SELECT lv.id, sum(days.n)::bigint AS n, sum(days.citizens)::bigint AS citizens,
                   sum(days.met)::bigint AS met, max(days.last_at) AS last_at
            {to_level("days", outside)} GROUP BY lv.id
        ),
        staff AS (
            SELECT lv.id, count(DISTINCT present.staff_id) AS staff
            {to_level("present", outside)} GROUP BY lv.id
        )
        SELECT {_figures("staff.staff")}
        FROM areas x JOIN lv ON lv.id = x.id LEFT JOIN agg ON agg.id = x.id
        LEFT JOIN staff ON staff.id = x.id
        ORDER BY x.code
    """


def coverage_sql(level: str, prep: Prepared) -> str:
    """One row per area in scope, by code: id, activities, staff, citizens, outcomes_met,
    last_at, area_m2, outcome_rate, per_km2."""
    # Outside every kelurahan: counted by the (first) city, and by no lower level.
    outside = "(SELECT min(id) FROM lv)" if level == "CITY" else "NULL"
    where = prep.where
    if prep.rollup:
        return _rollup_coverage_sql(outside, where)
    return f"""
        WITH lv AS ({scope_sql()}),
        act AS (
            SELECT a.area_id, a.staff_id, a.citizens_served, a.outcome_met, a.started_at
            FROM activities a WHERE a.started_at >= :t0 AND a.started_at < :t1 AND {where}
        ),
        agg AS (
            SELECT lv.id, count(*) AS n, count(DISTINCT act.staff_id) AS staff,
                   sum(act.citizens_served) AS citizens,
                   count(*) FILTER (WHERE act.outcome_met) AS met, max(act.started_at) AS last_at
            {to_level("act", outside)}
            GROUP BY lv.id
        )
        SELECT {_figures("agg.staff")}
        FROM areas x JOIN lv ON lv.id = x.id LEFT JOIN agg ON agg.id = x.id
        ORDER BY x.code
    """


def attainment_sql(prep: Prepared) -> str:
    """One row per area in scope and indicator with a target overlapping the period:
    area_id, indicator, target, actual."""
    where = prep.where
    owned = """
              AND t.indicator_code IN (SELECT code FROM indicators
                                       WHERE unit_id = ANY(:ind_units))""" \
        if prep.indicators_scoped else ""
    met = f"""
            SELECT a.area_id, a.outcome_code, a.day AS d, sum(a.met)::bigint AS n
            FROM rollup_area_day a
            WHERE a.day BETWEEN :d0 AND :d1 AND a.met > 0 AND {where}
              AND a.outcome_code IN (SELECT indicator_code FROM tg)
            GROUP BY 1, 2, 3""" if prep.rollup else f"""
            SELECT a.area_id, a.outcome_code, (a.started_at AT TIME ZONE 'Asia/Jakarta')::date AS d,
                   count(*) AS n
            FROM activities a
            WHERE a.started_at >= :t0 AND a.started_at < :t1 AND a.outcome_met AND {where}
              AND a.outcome_code IN (SELECT indicator_code FROM tg)
            GROUP BY 1, 2, 3"""
    return f"""
        WITH lv AS ({scope_sql()}),
        tg AS (
            SELECT t.id, t.indicator_code, t.area_id, t.target_value, t.period,
                   t.period * daterange(:d0, :d1, '[]') AS overlap
            FROM targets t
            WHERE t.period && daterange(:d0, :d1, '[]')
              AND t.area_id IN (SELECT descendant_id FROM area_closure
                                WHERE ancestor_id IN (SELECT id FROM lv)){owned}
        ),
        met AS ({met}
        ),
        -- Materialized: inlined, the planner misjudges tg's size and re-runs this per target
        -- (CITY over 30 demo days: 3-4 s instead of 30-70 ms).
        actual AS MATERIALIZED (
            SELECT tg.id, coalesce(sum(met.n), 0) AS n
            FROM tg
            JOIN area_closure d ON d.ancestor_id = tg.area_id
            LEFT JOIN met ON met.area_id = d.descendant_id AND met.outcome_code = tg.indicator_code
                         AND met.d <@ tg.overlap
            GROUP BY tg.id
        )
        SELECT c.ancestor_id AS area_id, tg.indicator_code AS indicator,
               -- Rounded so that the order of summation cannot show in the last digit.
               round(CAST(sum(tg.target_value * (upper(tg.overlap) - lower(tg.overlap))::float8
                   / (upper(tg.period) - lower(tg.period))) AS numeric), 9)::float8 AS target,
               sum(actual.n)::bigint AS actual
        FROM tg JOIN actual USING (id)
        JOIN area_closure c ON c.descendant_id = tg.area_id AND c.ancestor_id IN (SELECT id FROM lv)
        GROUP BY 1, 2 ORDER BY 1, 2
    """


async def coverage(conn: AsyncConnection, level: str, period: Period,
                   f: ActivityFilter | None, *, rollups: bool = True) -> list[Coverage]:
    """One row per area of `level` (within the filter's area, if any), ordered by code."""
    prep = await prepare(conn, level, period, f, rollups=rollups)
    rows = await conn.execute(text(coverage_sql(level, prep)), prep.params)
    found: Sequence[tuple[Any, ...]] = rows.all()
    return [Coverage(*r) for r in found]


async def attainment(conn: AsyncConnection, level: str, period: Period,
                     f: ActivityFilter | None, *, rollups: bool = True) -> list[Attainment]:
    """Target attainment per area of `level` and indicator, for targets overlapping `period`."""
    prep = await prepare(conn, level, period, f, rollups=rollups)
    rows = await conn.execute(text(attainment_sql(prep)), prep.params)
    found: Sequence[tuple[Any, ...]] = rows.all()
    return [Attainment(*r) for r in found]
