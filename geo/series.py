"""Coverage over time: one series per area of a level, one point per bucket of the period.

Buckets are WIB calendar days, ISO weeks (Monday to Sunday) or calendar months, clipped to the
period: a period from Wednesday 2026-11-04 has a first WEEK point of 04..08 November. So every
point is `coverage` over its own days, and the points' additive figures sum to the period's.
Empty buckets are rows of zeros.

One statement answers all areas and buckets: each day (or activity) is mapped to the start of
its bucket by an expression and grouped, never joined bucket by bucket. Distinct staff come from
the presence rollup (or the base table), counted distinctly per area and bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.coverage import Prepared, prepare, scope_sql, to_level
from geo.errors import BadInput
from geo.filters import ActivityFilter
from geo.periods import Period

BUCKETS = ("DAY", "WEEK", "MONTH")
# SQL: the first day of the bucket holding WIB day `d`, clipped to the period's start.
_START_OF = {
    "DAY": "{d}",
    "WEEK": "greatest(date_trunc('week', CAST({d} AS timestamp))::date, CAST(:d0 AS date))",
    "MONTH": "greatest(date_trunc('month', CAST({d} AS timestamp))::date, CAST(:d0 AS date))",
}
_UNIT = {"DAY": "day", "WEEK": "week", "MONTH": "month"}
CHUNK_ROWS = 2000    # rows fetched at a time by `stream`


@dataclass(frozen=True)
class SeriesRow:
    area_id: int
    start: date
    end: date
    activities: int
    staff: int
    citizens: int
    outcomes_met: int


def _next_start(d: date, bucket: str) -> date:
    if bucket == "DAY":
        return d + timedelta(days=1)
    if bucket == "WEEK":
        return d + timedelta(days=7 - d.weekday())
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1)


def buckets(period: Period, bucket: str) -> list[Period]:
    """The period cut into buckets, the first and last clipped to it."""
    if bucket not in BUCKETS:
        raise BadInput(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r:.20}")
    out: list[Period] = []
    start = period.start
    while start <= period.end:
        nxt = _next_start(start, bucket)
        out.append(Period(start, min(nxt - timedelta(days=1), period.end)))
        start = nxt
    return out


def _rollup_sql(outside: str, where: str, bucket: str) -> str:
    start_of, unit = _START_OF[bucket], _UNIT[bucket]
    day_start = start_of.format(d="a.day")
    present_start = start_of.format(d="CAST(d.day AS date)")
    return f"""
        days AS (
            SELECT a.area_id, {day_start} AS b0, sum(a.activities)::bigint AS n,
                   sum(a.met)::bigint AS met, sum(a.citizens)::bigint AS citizens
            FROM rollup_area_day a WHERE a.day BETWEEN :d0 AND :d1 AND {where}
            GROUP BY 1, 2
        ),
        present AS (
            -- Each bucket a staff member was present in: the period's part of their days,
            -- stepped through bucket by bucket (counted distinctly below).
            SELECT a.staff_id, a.area_id, {present_start} AS b0
            FROM rollup_presence a
            CROSS JOIN LATERAL unnest(a.days * datemultirange(daterange(:d0, :d1, '[]'))) r
            CROSS JOIN LATERAL generate_series(
                date_trunc('{unit}', CAST(lower(r) AS timestamp)),
                CAST(upper(r) - 1 AS timestamp), interval '1 {unit}') d(day)
            WHERE a.days && daterange(:d0, :d1, '[]') AND {where}
        ),
        agg AS (
            SELECT lv.id, days.b0, sum(days.n)::bigint AS n,
                   sum(days.citizens)::bigint AS citizens, sum(days.met)::bigint AS met
            {to_level("days", outside)} GROUP BY 1, 2
        ),
        staff AS (
            SELECT lv.id, present.b0, count(DISTINCT present.staff_id) AS staff
            {to_level("present", outside)} GROUP BY 1, 2
        )"""


def _base_sql(outside: str, where: str, bucket: str) -> str:
    act_start = _START_OF[bucket].format(d="wib_day(a.started_at)")
    return f"""
        act AS (
            SELECT a.area_id, a.staff_id, a.citizens_served, a.outcome_met, {act_start} AS b0
            FROM activities a WHERE a.started_at >= :t0 AND a.started_at < :t1 AND {where}
        ),
        agg AS (
            SELECT lv.id, act.b0, count(*) AS n, count(DISTINCT act.staff_id) AS staff,
                   sum(act.citizens_served) AS citizens,
                   count(*) FILTER (WHERE act.outcome_met) AS met
            {to_level("act", outside)} GROUP BY 1, 2
        ),
        staff AS (SELECT id, b0, staff FROM agg)"""


def series_sql(level: str, prep: Prepared, bucket: str) -> str:
    """Rows (area_id, start, end, activities, staff, citizens, outcomes_met) by area code, then
    start: every area in scope times every bucket (:b0, :b1 arrays of bucket bounds)."""
    outside = "(SELECT min(id) FROM lv)" if level == "CITY" else "NULL"
    parts = (_rollup_sql if prep.rollup else _base_sql)(outside, prep.where, bucket)
    return f"""
        WITH lv AS ({scope_sql()}),
        b AS (SELECT * FROM unnest(CAST(:b0 AS date[]), CAST(:b1 AS date[])) AS b(b0, b1)),
        {parts}
        SELECT x.id, b.b0, b.b1, coalesce(agg.n, 0), coalesce(staff.staff, 0),
               coalesce(agg.citizens, 0), coalesce(agg.met, 0)
        FROM areas x JOIN lv ON lv.id = x.id CROSS JOIN b
        LEFT JOIN agg ON agg.id = x.id AND agg.b0 = b.b0
        LEFT JOIN staff ON staff.id = x.id AND staff.b0 = b.b0
        ORDER BY x.code, b.b0
    """


async def _statement(conn: AsyncConnection, level: str, period: Period, bucket: str,
                     f: ActivityFilter | None, rollups: bool) -> tuple[str, dict[str, Any]]:
    cuts = buckets(period, bucket)
    prep = await prepare(conn, level, period, f, rollups=rollups)
    params = {**prep.params, "b0": [c.start for c in cuts], "b1": [c.end for c in cuts]}
    return series_sql(level, prep, bucket), params


def _row(r: Any) -> SeriesRow:
    return SeriesRow(*r)


async def stream(conn: AsyncConnection, level: str, period: Period, bucket: str,
                 f: ActivityFilter | None, *, rollups: bool = True) -> AsyncIterator[SeriesRow]:
    """The series' points in area code then time order, fetched CHUNK_ROWS at a time through a
    server-side cursor: a year of days for every kelurahan never sits in memory whole."""
    sql, params = await _statement(conn, level, period, bucket, f, rollups)
    result = await conn.stream(text(sql).execution_options(yield_per=CHUNK_ROWS), params)
    async for row in result:
        yield _row(row)


async def series(conn: AsyncConnection, level: str, period: Period, bucket: str,
                 f: ActivityFilter | None, *, rollups: bool = True) -> list[SeriesRow]:
    """All points at once (what GraphQL answers); the same rows as `stream`."""
    sql, params = await _statement(conn, level, period, bucket, f, rollups)
    return [_row(r) for r in (await conn.execute(text(sql), params)).all()]
