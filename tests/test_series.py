"""coverageSeries: every point is `coverage` over its bucket alone, and the points sum to the
period; buckets are WIB days, ISO weeks and calendar months clipped to the period."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import series
from geo.coverage import coverage
from geo.errors import BadInput
from geo.filters import ActivityFilter
from geo.periods import WIB, Period
from tests.conftest import Api, ApiAs
from tests.seed import K1, K2, K3, KEC1, KEC2, S1, S3, aid, inside

# Mid-week and mid-month starts, around the seed's activities (30 Sep .. 10 Oct 2026, WIB).
PERIODS = {
    "DAY": Period(date(2026, 9, 29), date(2026, 10, 11)),
    "WEEK": Period(date(2026, 9, 30), date(2026, 10, 17)),      # a Wednesday to a Saturday
    "MONTH": Period(date(2026, 9, 15), date(2026, 11, 20)),
}
FILTERS = {"all": None, "area": ActivityFilter(area_code=KEC1),
           "unit": ActivityFilter(unit_code="DINKES"), "staff": ActivityFilter(staff_id=S1)}


def test_buckets_are_clipped_iso_weeks_and_calendar_months() -> None:
    weeks = series.buckets(PERIODS["WEEK"], "WEEK")
    assert [(b.start.isoformat(), b.end.isoformat()) for b in weeks] == [
        ("2026-09-30", "2026-10-04"), ("2026-10-05", "2026-10-11"), ("2026-10-12", "2026-10-17")]
    months = series.buckets(PERIODS["MONTH"], "MONTH")
    assert [(b.start.isoformat(), b.end.isoformat()) for b in months] == [
        ("2026-09-15", "2026-09-30"), ("2026-10-01", "2026-10-31"), ("2026-11-01", "2026-11-20")]
    assert len(series.buckets(PERIODS["DAY"], "DAY")) == 13
    one_day = Period(date(2026, 10, 1), date(2026, 10, 1))
    assert series.buckets(one_day, "MONTH") == [one_day]
    with pytest.raises(BadInput, match="bucket must be one of DAY, WEEK, MONTH"):
        series.buckets(one_day, "YEAR")


def _figures(row: Any) -> tuple[int, int, int, int]:
    return row.activities, row.staff, row.citizens, row.outcomes_met


async def check_points(conn: AsyncConnection, level: str, period: Period, bucket: str,
                       f: ActivityFilter | None, rollups: bool) -> int:
    """Every point equals coverage over its bucket alone; the points sum to the period.
    Returns the activities seen, so a caller can tell the comparison was not of zeros."""
    points = await series.series(conn, level, period, bucket, f, rollups=rollups)
    cuts = series.buckets(period, bucket)
    whole = {r.area_id: r for r in await coverage(conn, level, period, f, rollups=rollups)}
    assert len(points) == len(whole) * len(cuts)
    by_bucket = {cut.start: {r.area_id: r for r in
                             await coverage(conn, level, cut, f, rollups=rollups)}
                 for cut in cuts}
    sums: dict[int, list[int]] = {}
    for p in points:
        assert Period(p.start, p.end) in cuts
        assert _figures(p) == _figures(by_bucket[p.start][p.area_id]), p
        total = sums.setdefault(p.area_id, [0, 0, 0])
        for i, v in enumerate((p.activities, p.citizens, p.outcomes_met)):
            total[i] += v
    for area_id, row in whole.items():
        assert sums[area_id] == [row.activities, row.citizens, row.outcomes_met]
    return sum(p.activities for p in points)


@pytest.mark.parametrize("rollups", [True, False], ids=["rollups", "base"])
@pytest.mark.parametrize("bucket", list(PERIODS))
@pytest.mark.parametrize("level", ["KELURAHAN", "KECAMATAN", "CITY"])
async def test_each_point_is_coverage_over_its_bucket(conn: AsyncConnection, level: str,
                                                      bucket: str, rollups: bool) -> None:
    seen = [await check_points(conn, level, PERIODS[bucket], bucket, f, rollups)
            for f in FILTERS.values()]
    assert seen[0] > 0     # the periods hold the seed's activities: the test compares something


async def test_presence_over_consecutive_days_across_week_and_month_ends(
        conn: AsyncConnection) -> None:
    """Runs of days (one presence range) that cross a Monday and the 1st, cut by the period."""
    lon, lat = inside(K3)
    days = [date(2026, 9, 26) + timedelta(days=i) for i in range(10)]    # Sat 26 Sep .. 5 Oct
    for i, d in enumerate(days):
        for n, staff in enumerate((S3, S1) if i % 3 else (S3,)):
            await conn.execute(text("""
                INSERT INTO activities (id, staff_id, category_code, started_at, geom,
                                        citizens_served, outcome_met)
                VALUES (:id, :s, 'LAYANAN', :t, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
                        2, true)"""),
                {"id": aid(100 + 2 * i + n), "s": staff, "lon": lon, "lat": lat,
                 "t": datetime.combine(d, time(23, 30), WIB)})
    await conn.commit()
    for bucket in PERIODS:
        for rollups in (True, False):
            for level in ("KELURAHAN", "KECAMATAN"):
                period = Period(date(2026, 9, 27), date(2026, 10, 4))
                assert await check_points(conn, level, period, bucket,
                                          ActivityFilter(area_code=KEC2), rollups) > 0


POINT = "start end activities citizensServed outcomesMet distinctStaff"


def series_query(level: str, bucket: str, start: str, end: str, f: str = "null") -> str:
    """Arguments as literals: the cost of a series is priced from them before it runs (with
    variables, at the most any value could cost)."""
    return f"""{{ coverageSeries(level: {level}, bucket: {bucket},
        period: {{from: "{start}", to: "{end}"}}, filter: {f}) {{
            area {{ code }} points {{ {POINT} }} }} }}"""


async def test_graphql_series_by_week(api: Api) -> None:
    data = await api.data(series_query("KELURAHAN", "WEEK", "2026-09-30", "2026-10-17",
                                       f'{{areaCode: "{KEC1}"}}'))
    rows = {s["area"]["code"]: s["points"] for s in data["coverageSeries"]}
    assert list(rows) == sorted(rows) and K1 in rows and K2 in rows
    assert all(len(points) == 3 for points in rows.values())
    # K1: 30 Sep (S2), 1 Oct (S1) in week one; 5 Oct (S1), 6 Oct (S2) in week two.
    assert rows[K1] == [
        {"start": "2026-09-30", "end": "2026-10-04", "activities": 2, "citizensServed": 16,
         "outcomesMet": 2, "distinctStaff": 2},
        {"start": "2026-10-05", "end": "2026-10-11", "activities": 2, "citizensServed": 8,
         "outcomesMet": 1, "distinctStaff": 2},
        {"start": "2026-10-12", "end": "2026-10-17", "activities": 0, "citizensServed": 0,
         "outcomesMet": 0, "distinctStaff": 0}]


async def test_series_suppresses_small_cells_like_coverage(api_as: ApiAs) -> None:
    planner = api_as("planner", None, "PEMKOT")
    october = series_query("KELURAHAN", "MONTH", "2026-10-01", "2026-10-31")
    data = await planner.data(october)
    rows = {s["area"]["code"]: s["points"][0] for s in data["coverageSeries"]}
    # K3: one staff member, fewer than k = 3: suppressed as in coverage; K1 has two.
    assert rows[K3]["activities"] == 1 and rows[K3]["distinctStaff"] is None
    assert rows[K1]["activities"] == 3 and rows[K1]["distinctStaff"] is None
    admin = await api_as("admin").data(october)
    assert {s["area"]["code"]: s["points"][0]["distinctStaff"]
            for s in admin["coverageSeries"]}[K1] == 2


async def test_series_authorisation_is_coverage_s(api_as: ApiAs) -> None:
    anonymous = api_as(None)
    err = await anonymous.error(series_query("KELURAHAN", "DAY", "2026-10-01", "2026-10-02"))
    assert err["extensions"]["code"] == "UNAUTHENTICATED"
    staff = api_as("staff", sub=S1, unit="DINKES")
    err = await staff.error(series_query("CITY", "DAY", "2026-10-01", "2026-10-02",
                                         '{unitCode: "KEC-357801"}'))
    assert err["extensions"]["code"] == "FORBIDDEN"


async def test_a_year_of_days_for_every_kelurahan_is_too_costly_for_graphql(api: Api) -> None:
    err = await api.error(series_query("KELURAHAN", "DAY", "2026-01-01", "2026-12-31"))
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    # Priced from the literal arguments: 31 areas x 53 weeks is within max_cost.
    week = await api.data(series_query("KECAMATAN", "WEEK", "2026-01-01", "2026-12-31"))
    assert len(week["coverageSeries"]) == 31
    assert len(week["coverageSeries"][0]["points"]) == 53
