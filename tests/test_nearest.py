"""nearestActivities against brute-force geodesic distances; Area.distanceTo in metres."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.filters import build_where
from geo.nearest import nearest
from tests.conftest import Api
from tests.points import add_points, point_id
from tests.seed import K1, K2, aid, location
from tests.test_n_plus_one import statements

NEAREST = """query($lon: Float!, $lat: Float!, $k: Int!, $f: ActivityFilter) {
    nearestActivities(lon: $lon, lat: $lat, limit: $k, filter: $f) {
        distanceMeters activity { id category area { code } } } }"""
DISTANCES = """query($lon: Float!, $lat: Float!) {
    areas(level: KELURAHAN) { code distanceTo(lon: $lon, lat: $lat) } }"""
BRUTE = """
    SELECT id, ST_Distance(CAST(geom AS geography),
                           CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography)) AS d
    FROM activities ORDER BY d, id LIMIT :k"""


async def brute_force(conn: AsyncConnection, lon: float, lat: float, k: int) -> list[Any]:
    return list((await conn.execute(text(BRUTE), {"lon": lon, "lat": lat, "k": k})).all())


async def test_order_and_distances_agree_with_brute_force(conn: AsyncConnection) -> None:
    rng = np.random.default_rng(11)
    lon, lat = 112.70 + rng.uniform(0, 0.1, 400), -7.34 + rng.uniform(0, 0.1, 400)
    await add_points(conn, list(zip(lon.tolist(), lat.tolist(), strict=True)))
    where = await build_where(conn, None)
    for qlon, qlat in zip(112.68 + rng.uniform(0, 0.14, 25), -7.36 + rng.uniform(0, 0.14, 25),
                          strict=True):
        for k in (1, 7, 60):
            found = await nearest(conn, float(qlon), float(qlat), k, where)
            truth = await brute_force(conn, float(qlon), float(qlat), k)
            assert [n.activity.id for n in found] == [t.id for t in truth]
            assert [n.distance_m for n in found] == pytest.approx([t.d for t in truth], abs=0.01)


async def test_the_geodesic_order_wins_over_the_index_order(api: Api,
                                                            conn: AsyncConnection) -> None:
    """Two activities 1.1 km from the query, one east and one north: in degrees the northern
    one is nearer, on the ground the eastern one is."""
    qlon, qlat = 112.75, -7.25       # ~9 km from every seed activity
    east, north = (qlon + 0.0100, qlat), (qlon, qlat + 0.00999)
    ids = await add_points(conn, [north, east])
    planar = (await conn.execute(text("""
        SELECT id FROM activities ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 1
        """), {"x": qlon, "y": qlat})).scalar()
    assert planar == ids[0]          # the index alone would answer "north"
    truth = await brute_force(conn, qlon, qlat, 2)
    assert [t.id for t in truth] == [ids[1], ids[0]]
    data = await api.data(NEAREST, {"lon": qlon, "lat": qlat, "k": 1})
    (only,) = data["nearestActivities"]
    assert only["activity"]["id"] == str(point_id(1))
    assert only["distanceMeters"] == pytest.approx(truth[0].d, abs=0.01)


async def test_results_carry_the_activity_and_respect_the_filter(api: Api) -> None:
    lon, lat = location(K2)
    data = await api.data(NEAREST, {"lon": lon, "lat": lat, "k": 5, "f": {"category": "LAYANAN"}})
    rows = data["nearestActivities"]
    assert [r["activity"]["id"] for r in rows] == [str(aid(5)), str(aid(6))]
    assert rows[0]["distanceMeters"] == pytest.approx(0, abs=0.01)
    assert rows[0]["activity"] == {"id": str(aid(5)), "category": "LAYANAN", "area": {"code": K2}}
    assert rows[1]["distanceMeters"] > 1000
    assert (await api.data(NEAREST, {"lon": lon, "lat": lat, "k": 1000}))["nearestActivities"]
    empty = await api.data(NEAREST, {"lon": lon, "lat": lat, "k": 3, "f": {"category": "LAYANAN",
                                                                          "outcomeMet": True,
                                                                          "staffId": str(aid(1))}})
    assert empty["nearestActivities"] == []


@pytest.mark.parametrize(("variables", "code"), [
    ({"lon": 112.7, "lat": -7.3, "k": 0}, "BAD_USER_INPUT"),
    ({"lon": 112.7, "lat": -7.3, "k": 1001}, "LIMIT_EXCEEDED"),
    ({"lon": -7.3, "lat": 112.7, "k": 5}, "INVALID_GEOMETRY"),
])
async def test_bad_requests_are_refused(api: Api, variables: dict[str, Any], code: str) -> None:
    err = await api.error(NEAREST, variables)
    assert err["extensions"]["code"] == code


async def test_distance_to_is_zero_inside_and_geodesic_outside(api: Api,
                                                               conn: AsyncConnection) -> None:
    lon, lat = location(K1)
    with statements(api) as seen:
        rows = {r["code"]: r["distanceTo"] for r in
                (await api.data(DISTANCES, {"lon": lon, "lat": lat}))["areas"]}
    assert sum("ST_Distance" in s for s in seen) == 1     # one query for all 153 areas
    assert len(rows) == 153 and rows[K1] == 0
    assert all(d > 0 for code, d in rows.items() if code != K1)
    truth = (await conn.execute(text("""
        SELECT code, ST_Distance(CAST(geom AS geography),
                                 CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography)),
               ST_Distance(ST_Transform(geom, 32749),
                           ST_Transform(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 32749))
        FROM areas WHERE level = 'KELURAHAN'"""), {"lon": lon, "lat": lat})).all()
    for code, geodesic, projected in truth:
        assert rows[code] == pytest.approx(geodesic, abs=1e-6), code
        assert rows[code] == pytest.approx(projected, rel=1e-3, abs=0.5), code   # independent


async def test_distance_to_checks_the_position(api: Api) -> None:
    err = await api.error(DISTANCES, {"lon": -7.3, "lat": 112.7})
    assert err["extensions"]["code"] == "INVALID_GEOMETRY" and "distanceTo" in err["message"]
