"""A unit's team: one row of figures per staff member, from one set-based query per page.

The team of a unit is every staff member of it and of the units below it who is active or has a
record in the period; members without activity get a row of zeros. A row's figures count the
same activities as coverage does (unflagged or accepted unless the filter says includeFlagged),
so a unit's rows sum to its coverage; its attainment is the person's own targets, prorated to
the period, against their own met outcomes among those activities. `fieldShare` is the share of
those activities at least FIELD_METRES (on the spheroid) from the office of the person's unit;
`flaggedShare` the share of all their records in the period whose flags await review.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.coverage import Attained
from geo.filters import ActivityFilter, build_where
from geo.people import StaffRow
from geo.periods import Period

FIELD_METRES = 250.0


@dataclass(frozen=True)
class StaffAttainment(Attained):
    """A person's targets of one indicator, prorated to the period, and their met outcomes."""

    indicator: str
    target: float
    actual: int


@dataclass(frozen=True)
class Performance:
    staff: StaffRow
    activities: int
    citizens: int
    outcomes_met: int
    outcome_rate: float | None      # None without activity
    field_days: int                 # WIB calendar days with a counted activity
    areas_served: int               # distinct kelurahan
    field_share: float | None       # None without activity or without the unit's office
    flagged_share: float            # 0 without records
    last_at: datetime | None
    attainment: tuple[StaffAttainment, ...]


@dataclass(frozen=True)
class TeamPage:
    rows: list[Performance]
    total: int                      # members of the team, all pages
    has_next: bool


def _team_sql(where: str, counted: str) -> str:
    return f"""
        WITH members AS (
            SELECT s.id, s.nip, s.name, s.unit_id, s.active, u.code AS unit_code, u.office
            FROM staff s JOIN units u ON u.id = s.unit_id
            WHERE s.unit_id = ANY(:units) AND (s.active OR EXISTS (
                SELECT 1 FROM activities a WHERE a.staff_id = s.id
                  AND a.started_at >= :t0 AND a.started_at < :t1 AND {where}))
        ),
        page AS (
            SELECT m.* FROM members m
            WHERE CAST(:after AS uuid) IS NULL OR (m.unit_code, m.name, m.id) > (
                SELECT u.code, s.name, s.id FROM staff s JOIN units u ON u.id = s.unit_id
                WHERE s.id = :after)
            ORDER BY m.unit_code, m.name, m.id LIMIT CAST(:lim AS integer)
        ),
        acts AS (
            SELECT a.staff_id, a.started_at, a.area_id, a.citizens_served, a.outcome_code,
                   a.outcome_met, a.review, a.geom
            FROM activities a JOIN page p ON p.id = a.staff_id
            WHERE a.started_at >= :t0 AND a.started_at < :t1 AND {where}
        ),
        figures AS (
            SELECT p.id, count(a.staff_id) FILTER (WHERE {counted}) AS n,
                   coalesce(sum(a.citizens_served) FILTER (WHERE {counted}), 0) AS citizens,
                   count(a.staff_id) FILTER (WHERE {counted} AND a.outcome_met) AS met,
                   count(DISTINCT (a.started_at AT TIME ZONE 'Asia/Jakarta')::date)
                       FILTER (WHERE {counted}) AS days,
                   count(DISTINCT a.area_id) FILTER (WHERE {counted}) AS areas,
                   count(a.staff_id) FILTER (WHERE {counted} AND ST_Distance(
                       CAST(p.office AS geography), CAST(a.geom AS geography)) >= :field_m)
                       AS far,
                   count(a.staff_id) AS records,
                   count(a.staff_id) FILTER (WHERE a.review = 'PENDING') AS pending,
                   max(a.started_at) FILTER (WHERE {counted}) AS last_at
            FROM page p LEFT JOIN acts a ON a.staff_id = p.id
            GROUP BY p.id
        ),
        per_target AS (
            SELECT t.staff_id, t.indicator_code,
                   t.target_value * (upper(o.overlap) - lower(o.overlap))::float8
                       / (upper(t.period) - lower(t.period)) AS target,
                   (SELECT count(*) FROM acts a
                    WHERE a.staff_id = t.staff_id AND {counted} AND a.outcome_met
                      AND a.outcome_code = t.indicator_code
                      AND (a.started_at AT TIME ZONE 'Asia/Jakarta')::date <@ o.overlap) AS actual
            FROM targets t JOIN page p ON p.id = t.staff_id
            CROSS JOIN LATERAL (SELECT t.period * daterange(:d0, :d1, '[]') AS overlap) o
            WHERE t.period && daterange(:d0, :d1, '[]')
        ),
        att AS (
            SELECT staff_id, array_agg(indicator_code ORDER BY indicator_code) AS codes,
                   array_agg(target ORDER BY indicator_code) AS targets,
                   array_agg(actual ORDER BY indicator_code) AS actuals
            FROM (SELECT staff_id, indicator_code,
                         -- Rounded so that the order of summation cannot show in the last digit.
                         round(CAST(sum(target) AS numeric), 9)::float8 AS target,
                         sum(actual)::bigint AS actual
                  FROM per_target GROUP BY 1, 2) x
            GROUP BY staff_id
        )
        SELECT p.id, p.nip, p.name, p.unit_id, p.active,
               f.n, f.citizens, f.met, CASE WHEN f.n > 0 THEN f.met::float8 / f.n END,
               f.days, f.areas,
               CASE WHEN f.n > 0 AND p.office IS NOT NULL THEN f.far::float8 / f.n END,
               CASE WHEN f.records > 0 THEN f.pending::float8 / f.records ELSE 0 END,
               f.last_at, att.codes, att.targets, att.actuals, c.total
        -- One row with the total and nulls when the page is empty.
        FROM (SELECT count(*) AS total FROM members) c
        LEFT JOIN (page p JOIN figures f ON f.id = p.id LEFT JOIN att ON att.staff_id = p.id)
               ON true
        ORDER BY p.unit_code, p.name, p.id
    """


def _row(r: Sequence[Any]) -> Performance:
    codes, targets, actuals = r[14] or [], r[15] or [], r[16] or []
    attainment = tuple(StaffAttainment(c, t, a)
                       for c, t, a in zip(codes, targets, actuals, strict=True))
    return Performance(StaffRow(*r[:5]), activities=r[5], citizens=r[6], outcomes_met=r[7],
                       outcome_rate=r[8], field_days=r[9], areas_served=r[10],
                       field_share=r[11], flagged_share=r[12], last_at=r[13],
                       attainment=attainment)


async def team(conn: AsyncConnection, unit_ids: Collection[int], period: Period,
               f: ActivityFilter | None = None, *, first: int | None = None,
               after: uuid.UUID | None = None) -> TeamPage:
    """The team of the units `unit_ids` over `period`, by unit code, name and id: `first`
    members after the member `after` (all when `first` is None). The one source of the team's
    figures, for the API and for exports."""
    f = f or ActivityFilter()
    # Every record of the period selects members and counts in flaggedShare; `counted` says
    # which of them count in the figures.
    where = await build_where(conn, replace(f, include_flagged=True, review=None),
                              with_period=False)
    counted = "a.staff_id IS NOT NULL" if f.include_flagged else \
        "a.staff_id IS NOT NULL AND a.review IN ('NONE', 'ACCEPTED')"
    params = {**where.params, "units": sorted(unit_ids), "t0": period.t0, "t1": period.t1,
              "d0": period.start, "d1": period.end, "after": after, "field_m": FIELD_METRES,
              "lim": None if first is None else first + 1}
    found: Sequence[Sequence[Any]] = (await conn.execute(
        text(_team_sql(where.sql, counted)), params)).all()
    rows = [_row(r) for r in found if r[0] is not None]
    page = rows if first is None else rows[:first]
    return TeamPage(page, found[0][17], first is not None and len(rows) > first)
