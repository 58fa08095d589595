"""reach against shapely's union of the same circles; gaps against the seed's known counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.planner import CELL_PER_RADIUS
from tests.conftest import Api
from tests.payloads import OCTOBER
from tests.points import add_points
from tests.seed import K1, K2, K3, KEC1, KEC2
from tests.seed import OCTOBER as SEEDED

REACH = """query($l: AreaLevel!, $p: Period!, $r: Float!, $f: ActivityFilter) {
    reach(level: $l, period: $p, radiusMeters: $r, filter: $f) {
        area { code areaKm2 } reachedShare reachedKm2 activities } }"""
GAPS = """query($l: AreaLevel!, $p: Period!, $n: Int!) {
    gaps(level: $l, period: $p, minActivities: $n) {
        area { code } activities lastActivityAt daysSinceLastActivity } }"""
LEVEL_SIZE = {"KELURAHAN": 153, "KECAMATAN": 31, "CITY": 1}
LEVEL_CODES = {"KELURAHAN": {K1, K2, K3}, "KECAMATAN": {KEC1, KEC2}, "CITY": {"35.78"}}


async def reach(api: Api, level: str, radius: float,
                f: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    rows = (await api.data(REACH, {"l": level, "p": OCTOBER, "r": radius, "f": f}))["reach"]
    codes = [r["area"]["code"] for r in rows]
    assert codes == sorted(codes) and len(codes) == LEVEL_SIZE[level]
    return {r["area"]["code"]: r for r in rows}


def circles(points: Any, radius: float) -> Any:
    """The 32-gons ST_Buffer draws (shapely's `.buffer` method would draw 64-gons)."""
    return shapely.buffer(points, radius, quad_segs=8)


async def expected_shares(conn: AsyncConnection, level: str, radius: float,
                          category: str | None = None) -> dict[str, float]:
    """The share of each area within `radius` of an October activity, by shapely in UTM 49S
    (projected by PostGIS)."""
    areas = (await conn.execute(text("""
        SELECT code, ST_AsBinary(ST_Transform(geom, 32749)) FROM areas WHERE level = :l"""),
        {"l": level})).all()
    points = (await conn.execute(text("""
        SELECT ST_AsBinary(ST_Transform(geom, 32749)) FROM activities
        WHERE started_at >= '2026-10-01T00:00+07' AND started_at < '2026-11-01T00:00+07'
          AND (CAST(:c AS text) IS NULL OR category_code = :c)"""), {"c": category})).scalars()
    reached = shapely.union_all(circles(shapely.from_wkb(list(points)), radius))
    out = {}
    for code, wkb in areas:
        area = shapely.from_wkb(wkb)
        out[code] = area.intersection(reached).area / area.area
    return out


def assert_matches(rows: dict[str, dict[str, Any]], expected: dict[str, float]) -> None:
    assert rows.keys() == expected.keys()
    for code, row in rows.items():
        assert row["reachedShare"] == pytest.approx(expected[code], abs=2e-6), code
        assert row["reachedKm2"] == pytest.approx(expected[code] * row["area"]["areaKm2"],
                                                  abs=2e-6), code


async def test_radius_zero_reaches_nothing(api: Api) -> None:
    rows = await reach(api, "KELURAHAN", 0)
    assert all(r["reachedShare"] == 0 and r["reachedKm2"] == 0 for r in rows.values())
    assert {c: r["activities"] for c, r in rows.items() if r["activities"]} == \
        {c: SEEDED[c][0] for c in (K1, K2, K3)}


@pytest.mark.parametrize("level", ["KELURAHAN", "KECAMATAN", "CITY"])
@pytest.mark.parametrize("radius", [300.0, 2_500.0])
async def test_shares_are_those_of_the_union_of_circles(
        api: Api, conn: AsyncConnection, level: str, radius: float) -> None:
    rows = await reach(api, level, radius)
    expected = await expected_shares(conn, level, radius)
    assert_matches(rows, expected)
    assert sum(1 for s in expected.values() if s > 0) >= {"KELURAHAN": 3, "KECAMATAN": 2,
                                                          "CITY": 1}[level]
    counts = {c: r["activities"] for c, r in rows.items() if r["activities"]}
    assert counts == {c: SEEDED[c][0] for c in SEEDED if c in LEVEL_CODES[level]}


async def test_one_activity_reaches_its_disk_within_the_kelurahan(
        api: Api, conn: AsyncConnection) -> None:
    radius = 300.0
    row = (await conn.execute(text("""
        SELECT ST_AsBinary(ST_Transform(x.geom, 32749)) AS area,
               ST_AsBinary(ST_Transform(a.geom, 32749)) AS point,
               (SELECT count(*) FROM activities o WHERE o.id <> a.id
                  AND ST_DWithin(ST_Transform(o.geom, 32749), ST_Transform(x.geom, 32749), :r)
                  AND o.started_at >= '2026-10-01T00:00+07' AND o.started_at < '2026-11-01T00:00+07'
               ) AS others
        FROM areas x JOIN activities a ON a.area_id = x.id
        WHERE x.code = :k AND a.started_at >= '2026-10-01T00:00+07'"""),
        {"k": K3, "r": radius})).one()
    assert row.others == 0      # K3's one October activity is the only one near it
    area, disk = shapely.from_wkb(row.area), circles(shapely.from_wkb(row.point), radius)
    rows = await reach(api, "KELURAHAN", radius)
    assert rows[K3]["activities"] == 1
    assert rows[K3]["reachedKm2"] == pytest.approx(area.intersection(disk).area / 1e6, rel=5e-4)
    assert 0 < rows[K3]["reachedShare"] < 1


async def test_a_huge_radius_reaches_every_area_in_range(api: Api, conn: AsyncConnection) -> None:
    rows = await reach(api, "KELURAHAN", 30_000)
    expected = await expected_shares(conn, "KELURAHAN", 30_000)
    full = {c for c, s in expected.items() if s == pytest.approx(1, abs=1e-12)}
    assert {K1, K2, K3} <= full and len(full) > 100
    assert all(rows[c]["reachedShare"] == 1 for c in full)
    assert_matches(rows, expected)


async def test_the_filter_chooses_the_activities(api: Api, conn: AsyncConnection) -> None:
    rows = await reach(api, "KELURAHAN", 300, {"category": "LAYANAN"})
    assert_matches(rows, await expected_shares(conn, "KELURAHAN", 300, "LAYANAN"))
    assert rows[K1]["activities"] == 0 and rows[K2]["activities"] == 1
    assert rows[K1]["reachedShare"] < rows[K2]["reachedShare"]


@pytest.mark.parametrize("radius", [300.0, 500.0])
async def test_dense_activity_is_still_exact(api: Api, conn: AsyncConnection,
                                             radius: float) -> None:
    """Where every cell around a point is occupied, its circle is replaced by the cells:
    the answer must not move."""
    rng = np.random.default_rng(7)
    lon = 112.735 + rng.uniform(0, 0.03, 900)
    lat = -7.275 + rng.uniform(0, 0.03, 900)
    await add_points(conn, list(zip(lon.tolist(), lat.tolist(), strict=True)))
    xy = (await conn.execute(text("""
        SELECT ST_X(ST_Transform(geom, 32749)), ST_Y(ST_Transform(geom, 32749)) FROM activities
        WHERE started_at >= '2026-10-01T00:00+07' AND started_at < '2026-11-01T00:00+07'"""))).all()
    cell = radius * CELL_PER_RADIUS
    occupied = {(int(x // cell), int(y // cell)) for x, y in xy}
    covered = [c for c in occupied if all((c[0] + di, c[1] + dj) in occupied
                                          for di in range(-2, 3) for dj in range(-2, 3))]
    assert len(covered) > 10     # the shortcut is really taken
    rows = await reach(api, "KELURAHAN", radius)
    expected = await expected_shares(conn, "KELURAHAN", radius)
    assert sum(1 for s in expected.values() if s == pytest.approx(1, abs=1e-12)) >= 1
    assert_matches(rows, expected)


@pytest.mark.parametrize(("radius", "code"), [(-1, "BAD_USER_INPUT"), (50_001, "LIMIT_EXCEEDED")])
async def test_radius_is_bounded(api: Api, radius: float, code: str) -> None:
    err = await api.error(REACH, {"l": "KELURAHAN", "p": OCTOBER, "r": radius})
    assert err["extensions"]["code"] == code and "radiusMeters" in err["message"]


async def gaps(api: Api, level: str, period: dict[str, str], n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await api.data(GAPS, {"l": level, "p": period, "n": n}))["gaps"]
    return rows


async def test_gaps_are_the_areas_below_the_threshold_fewest_first(api: Api) -> None:
    rows = await gaps(api, "KELURAHAN", OCTOBER, 3)
    assert len(rows) == 153 - 1                      # all but K1, which had 3
    zeros, tail = rows[:-2], rows[-2:]
    assert all(r["activities"] == 0 for r in zeros)
    codes = [r["area"]["code"] for r in zeros]
    assert codes == sorted(codes) and {K1, K2, K3}.isdisjoint(codes)
    assert all(r["lastActivityAt"] is None and r["daysSinceLastActivity"] is None for r in zeros)
    assert tail == [
        {"area": {"code": K3}, "activities": 1, "lastActivityAt": "2026-10-09T11:00:00+07:00",
         "daysSinceLastActivity": 22},
        {"area": {"code": K2}, "activities": 2, "lastActivityAt": "2026-10-08T11:00:00+07:00",
         "daysSinceLastActivity": 23},
    ]


async def test_last_activity_is_counted_back_from_the_end_of_the_period(api: Api) -> None:
    rows = {r["area"]["code"]: r for r in await gaps(
        api, "KELURAHAN", {"from": "2026-11-01", "to": "2026-11-30"}, 1)}
    assert len(rows) == 153
    assert (rows[K1]["lastActivityAt"], rows[K1]["daysSinceLastActivity"]) == \
        ("2026-10-06T10:00:00+07:00", 55)
    assert rows[K3]["daysSinceLastActivity"] == 52
    # Before October, K2 and K3 had never been visited: later activity does not count.
    september = {r["area"]["code"]: r for r in await gaps(
        api, "KELURAHAN", {"from": "2026-09-01", "to": "2026-09-30"}, 2)}
    assert september[K1]["activities"] == 1
    assert september[K1]["lastActivityAt"] == "2026-09-30T23:59:00+07:00"
    assert september[K1]["daysSinceLastActivity"] == 0
    assert september[K2]["lastActivityAt"] is None and september[K2]["activities"] == 0


async def test_days_are_wib_days(api: Api) -> None:
    # 00:30 WIB on 1 October is still 30 September in UTC.
    rows = {r["area"]["code"]: r for r in await gaps(
        api, "KELURAHAN", {"from": "2026-10-01", "to": "2026-10-01"}, 2)}
    assert rows[K1]["activities"] == 1 and rows[K1]["daysSinceLastActivity"] == 0
    assert rows[K1]["lastActivityAt"] == "2026-10-01T00:30:00+07:00"


async def test_gaps_at_higher_levels(api: Api) -> None:
    kec = await gaps(api, "KECAMATAN", OCTOBER, 6)
    assert [r["area"]["code"] for r in kec[-2:]] == [KEC2, KEC1]
    assert [r["activities"] for r in kec[-2:]] == [1, 5] and len(kec) == 31
    # The city counts the activity outside every kelurahan, as coverage does.
    assert await gaps(api, "CITY", OCTOBER, 8) == [
        {"area": {"code": "35.78"}, "activities": 7,
         "lastActivityAt": "2026-10-10T08:00:00+07:00", "daysSinceLastActivity": 21}]
    assert await gaps(api, "CITY", OCTOBER, 7) == []


async def test_min_activities_must_not_be_negative(api: Api) -> None:
    err = await api.error(GAPS, {"l": "KELURAHAN", "p": OCTOBER, "n": -1})
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
