"""hexbins: every activity in exactly one hexagon, the one whose centre is nearest to it."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, shape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import planner
from geo.errors import LimitExceeded
from geo.periods import Period
from tests.conftest import Api, serve, settings_for
from tests.payloads import OCTOBER
from tests.points import add_points
from tests.rfc7946 import check_feature_collection

HEXBINS = """query($p: Period!, $s: Float!, $f: ActivityFilter) {
    hexbins(period: $p, cellSizeMeters: $s, filter: $f) }"""
OCTOBER_PERIOD = Period(date(2026, 10, 1), date(2026, 10, 31))
SQRT3 = math.sqrt(3)


def centre(i: int, j: int, size: float) -> tuple[float, float]:
    """ST_Hexagon's layout: odd columns (negative ones too) sit half a row higher."""
    return 1.5 * size * i, SQRT3 * size * (j + (0.5 if i % 2 else 0.0))


def nearest_cell(x: float, y: float, size: float) -> tuple[int, int]:
    """The hexagon holding (x, y): the one with the nearest centre, by brute force."""
    i0 = round(x / (1.5 * size))
    j0 = round(y / (SQRT3 * size))
    cells = [(i, j) for i in range(i0 - 2, i0 + 3) for j in range(j0 - 2, j0 + 3)]
    return min(cells, key=lambda c: math.dist((x, y), centre(*c, size)))


async def october_points(conn: AsyncConnection, category: str | None = None) -> list[Any]:
    """Each October activity: lon, lat, UTM 49S x, y, citizens, met (projected by PostGIS)."""
    rows = await conn.execute(text("""
        SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, ST_X(ST_Transform(geom, 32749)) AS x,
               ST_Y(ST_Transform(geom, 32749)) AS y, citizens_served, outcome_met
        FROM activities
        WHERE started_at >= '2026-10-01T00:00+07' AND started_at < '2026-11-01T00:00+07'
          AND (CAST(:c AS text) IS NULL OR category_code = :c)"""), {"c": category})
    return list(rows.all())


async def transform(conn: AsyncConnection, x: float, y: float, srid: int) -> tuple[float, float]:
    """(x, y) from UTM 49S to lon/lat (srid 32749) or back (srid 4326), by PostGIS."""
    row = (await conn.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), :srid),
                                                  CAST(:to AS integer)) p"""),
        {"x": x, "y": y, "srid": srid, "to": 4326 if srid == 32749 else 32749})).one()
    return row[0], row[1]


async def lonlat(conn: AsyncConnection, x: float, y: float) -> tuple[float, float]:
    return await transform(conn, x, y, 32749)


async def hexbins(api: Api, size: float, f: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = (await api.data(HEXBINS, {"p": OCTOBER, "s": size, "f": f}))["hexbins"]
    check_feature_collection(doc)
    return doc


@pytest.mark.parametrize("size", [50.0, 400.0, 3000.0, 20_000.0])
@pytest.mark.parametrize("category", [None, "POSYANDU"])
async def test_each_activity_counts_once_in_the_cell_that_holds_it(
        api: Api, conn: AsyncConnection, size: float, category: str | None) -> None:
    points = await october_points(conn, category)
    assert len(points) == (5 if category else 7)
    doc = await hexbins(api, size, {"category": category} if category else None)
    features = doc["features"]
    assert sum(f["properties"]["activities"] for f in features) == len(points)

    expected: dict[tuple[int, int], list[Any]] = {}
    for p in points:
        expected.setdefault(nearest_cell(p.x, p.y, size), []).append(p)
    assert len(features) == len(expected)
    # Match each feature to the expected cell whose centre is within a tenth of a cell of it.
    centres = {c: await lonlat(conn, *centre(*c, size)) for c in expected}
    tolerance = size / 111_000 / 10
    for feature in features:
        polygon = shape(feature["geometry"])
        assert len(polygon.exterior.coords) == 7 and not polygon.interiors
        at = polygon.centroid
        cell = min(centres, key=lambda c: math.dist(centres[c], (at.x, at.y)))
        assert math.dist(centres[cell], (at.x, at.y)) < tolerance
        members = expected.pop(cell)
        props = feature["properties"]
        met = sum(p.outcome_met for p in members)
        assert props == {"activities": len(members),
                         "citizensServed": sum(p.citizens_served for p in members),
                         "outcomesMet": met, "outcomeRate": round(met / len(members), 6)}
        for p in members:   # written at 6 decimals: allow the rounding of the vertices
            assert polygon.buffer(1e-6).covers(Point(p.lon, p.lat))
    assert not expected


async def test_points_on_edges_and_corners_count_once(api: Api, conn: AsyncConnection) -> None:
    size = 500.0
    cx, cy = centre(*nearest_cell(*await transform(conn, 112.75, -7.27, 4326), size), size)
    corners = [(cx + size * math.cos(k * math.pi / 3), cy + size * math.sin(k * math.pi / 3))
               for k in range(6)]
    mids = [((ax + bx) / 2, (ay + by) / 2)
            for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True)]
    on_edges = [await lonlat(conn, x, y) for x, y in corners + mids]
    await add_points(conn, on_edges)
    features = (await hexbins(api, size))["features"]
    assert sum(f["properties"]["activities"] for f in features) == 7 + len(on_edges)
    polygons = shapely.union_all([shape(f["geometry"]) for f in features])
    assert all(polygons.buffer(1e-6).covers(Point(p)) for p in on_edges)


async def test_cells_below_the_minimum_count_are_left_out(db_url: str) -> None:
    async for api in serve(settings_for(db_url, hexbin_min_count=2)):
        features = (await hexbins(api, 50.0))["features"]
    # October: 3 activities at one place in K1, 2 at one place in K2, single ones elsewhere.
    assert Counter(f["properties"]["activities"] for f in features) == {3: 1, 2: 1}


async def test_an_empty_period_is_an_empty_collection(api: Api) -> None:
    data = await api.data(HEXBINS, {"p": {"from": "2025-01-01", "to": "2025-01-31"}, "s": 500})
    assert data["hexbins"] == {"type": "FeatureCollection", "features": []}


@pytest.mark.parametrize(("size", "code"), [
    (0, "BAD_USER_INPUT"), (-100, "BAD_USER_INPUT"), (49.9, "LIMIT_EXCEEDED"),
    (20_001, "LIMIT_EXCEEDED"),
])
async def test_cell_size_is_bounded(api: Api, size: float, code: str) -> None:
    err = await api.error(HEXBINS, {"p": OCTOBER, "s": size})
    assert err["extensions"]["code"] == code
    assert "cellSizeMeters" in err["message"]


async def test_too_many_cells_is_refused(conn: AsyncConnection) -> None:
    assert '"features"' in await planner.hexbins(conn, OCTOBER_PERIOD, None, 50.0, 1, max_cells=4)
    with pytest.raises(LimitExceeded, match="4 hexagons of 50 m is more than the maximum of 3"):
        await planner.hexbins(conn, OCTOBER_PERIOD, None, 50.0, 1, max_cells=3)
