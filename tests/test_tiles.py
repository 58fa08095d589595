"""Vector tiles and TileJSON over HTTP, checked against the seed's known figures and a
brute-force placement of its points on the web-mercator tile grid."""

from __future__ import annotations

import math
import uuid
from datetime import date
from typing import Any

import httpx
import mapbox_vector_tile
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import QueryParams

from geo.coverage import coverage
from geo.errors import BadInput
from geo.filters import ActivityFilter
from geo.periods import Period
from geo.settings import Settings
from geo.tiles import ACTIVITIES, AREAS, CELLS, EXTENT, POINT_BUFFER, Tile, activities_tile
from graph.tiles import MVT_TYPE, parse_query
from tests.conftest import Api
from tests.payloads import RECORD_ONE, activity
from tests.seed import ACTIVITIES as SEED
from tests.seed import K1, K3, KEC1, OCTOBER, S1, aid, location

OCT = {"from": "2026-10-01", "to": "2026-10-31"}
OCT_PERIOD = Period(date(2026, 10, 1), date(2026, 10, 31))
IN_OCTOBER = [a for a in SEED if a[3].month == 10]


def position(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Web-mercator tile coordinates (fractional): the integer part is the tile's x, y."""
    n = 2**z
    return (lon + 180) / 360 * n, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n


def tile_of(place: str | None, z: int) -> tuple[int, int, int]:
    fx, fy = position(*location(place), z)
    return z, int(fx), int(fy)


def in_tile(place: str | None, tile: tuple[int, int, int], buffer: float = 0) -> bool:
    """The place lies in the tile grown by `buffer` tile units."""
    z, x, y = tile
    fx, fy = position(*location(place), z)
    margin = buffer / EXTENT
    return x - margin <= fx < x + 1 + margin and y - margin <= fy < y + 1 + margin


def url(layer: str, tile: tuple[int, int, int]) -> str:
    return f"/tiles/{layer}/{tile[0]}/{tile[1]}/{tile[2]}.mvt"


async def get_tile(api: Api, layer: str, tile: tuple[int, int, int],
                   **params: str) -> list[dict[str, Any]]:
    """The features of the tile's one layer, named as the layer."""
    r = await api.http.get(url(layer, tile), params={**OCT, **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT_TYPE
    decoded = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})
    assert set(decoded) == {layer}
    assert decoded[layer]["extent"] == EXTENT
    features: list[dict[str, Any]] = decoded[layer]["features"]
    return features


async def error(http: httpx.AsyncClient, path: str, status: int, **params: str) -> dict[str, Any]:
    r = await http.get(path, params=params)
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    assert set(body) == {"code", "message"}
    return body


@pytest.mark.parametrize("z", [10, 12, 14])
async def test_areas_tile_carries_the_coverage_figures(api: Api, conn: AsyncConnection,
                                                       z: int) -> None:
    features = await get_tile(api, "areas", tile_of(K1, z))
    by_code = {f["properties"]["code"]: f for f in features}
    assert len(by_code) == len(features)
    assert K1 in by_code
    expected = {c.area_id: c for c in await coverage(conn, "KELURAHAN", OCT_PERIOD, None)}
    ids = dict((await conn.execute(text("SELECT code, id FROM areas WHERE code = ANY(:c)"),
                                   {"c": list(by_code)})).all())
    for code, f in by_code.items():
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        c = expected[ids[code]]
        props = f["properties"]
        assert props["name"]
        assert (props["activities"], props["distinctStaff"], props["citizensServed"],
                props["outcomesMet"]) == (c.activities, c.staff, c.citizens, c.outcomes_met)
        assert props["activitiesPerKm2"] == pytest.approx(c.per_km2)
        if c.activities:
            assert props["outcomeRate"] == pytest.approx(c.outcome_rate)
        else:
            assert "outcomeRate" not in props
        assert set(props) <= set(AREAS.fields)
        if code in OCTOBER:
            n, staff, citizens, met = OCTOBER[code]
            assert (props["activities"], props["distinctStaff"], props["citizensServed"],
                    props["outcomesMet"]) == (n, staff, citizens, met)
    assert by_code[K1]["properties"]["activities"] == 3
    assert by_code[K1]["properties"]["outcomeRate"] == pytest.approx(2 / 3)
    if z < 14:  # areas without activity are drawn too
        assert any(f["properties"]["activities"] == 0 for f in features)


@pytest.mark.parametrize(("level", "code"), [("KECAMATAN", KEC1), ("CITY", "35.78")])
async def test_areas_tile_at_higher_levels(api: Api, level: str, code: str) -> None:
    features = await get_tile(api, "areas", tile_of(K1, 12), level=level)
    props = {f["properties"]["code"]: f["properties"] for f in features}
    assert (props[code]["activities"], props[code]["distinctStaff"],
            props[code]["citizensServed"], props[code]["outcomesMet"]) == OCTOBER[code]
    assert all(len(c) == len(code) for c in props)


async def test_areas_tile_follows_the_filter(api: Api) -> None:
    layanan = await get_tile(api, "areas", tile_of(K1, 12), level="KECAMATAN", category="LAYANAN")
    assert {f["properties"]["code"]: f["properties"]["activities"]
            for f in layanan}[KEC1] == 1   # K2's LAYANAN visit; K3 is in the other kecamatan


async def test_activities_tile_at_z14_has_the_seed_points(api: Api) -> None:
    tile = tile_of(K1, 14)
    features = await get_tile(api, "activities", tile)
    expected = {str(a[0]): a for a in IN_OCTOBER if in_tile(a[4], tile, POINT_BUFFER)}
    assert len(expected) >= 3
    got = {f["properties"]["id"]: f for f in features}
    assert set(got) == set(expected)
    for id_, f in got.items():
        _, _, category, _, place, citizens, _, met = expected[id_]
        assert f["geometry"]["type"] == "Point"
        assert f["properties"] == {"id": id_, "category": category, "outcomeMet": met,
                                   "citizensServed": citizens}
        fx, fy = position(*location(place), 14)
        px, py = f["geometry"]["coordinates"]
        assert (px, py) == (round((fx - tile[1]) * EXTENT), round((fy - tile[2]) * EXTENT))


@pytest.mark.parametrize(("max_points", "clustered"), [(3, False), (2, True)])
async def test_a_tile_of_too_many_points_is_clustered(conn: AsyncConnection, max_points: int,
                                                      clustered: bool) -> None:
    body = await activities_tile(conn, Tile(*tile_of(K1, 14)), OCT_PERIOD, ActivityFilter(),
                                 max_points=max_points)
    features = mapbox_vector_tile.decode(body)["activities"]["features"]
    if clustered:  # the three K1 activities share one spot
        assert [f["properties"] for f in features] == [
            {"cluster": True, "count": 3, "citizensServed": 18, "outcomeRate": 2 / 3}]
    else:
        assert len(features) == 3
        assert all("cluster" not in f["properties"] for f in features)


@pytest.mark.parametrize("z", [10, 12])
async def test_low_zoom_clusters_count_the_activities_of_their_tile(api: Api, z: int) -> None:
    tile = tile_of(K1, z)
    features = await get_tile(api, "activities", tile)
    inside = [a for a in IN_OCTOBER if in_tile(a[4], tile)]
    assert inside
    assert all(f["properties"]["cluster"] is True for f in features)
    assert all(f["geometry"]["type"] == "Point" for f in features)
    assert sum(f["properties"]["count"] for f in features) == len(inside)
    assert sum(f["properties"]["citizensServed"] for f in features) == sum(a[5] for a in inside)
    met = sum(f["properties"]["outcomeRate"] * f["properties"]["count"] for f in features)
    assert met == pytest.approx(sum(a[7] for a in inside))
    cells: dict[tuple[int, int], int] = {}
    for a in inside:
        fx, fy = position(*location(a[4]), z)
        cell = (int((fx - tile[1]) * CELLS), int((fy - tile[2]) * CELLS))
        cells[cell] = cells.get(cell, 0) + 1
    side = EXTENT // CELLS
    assert {(x // side, y // side): f["properties"]["count"]
            for f in features for x, y in [f["geometry"]["coordinates"]]} == cells
    assert set().union(*(f["properties"] for f in features)) <= set(ACTIVITIES.fields)


async def test_every_activity_is_clustered_in_exactly_one_tile(api: Api,
                                                              conn: AsyncConnection) -> None:
    # Two more activities, 0.4 tile units (~4 m) either side of the edge between two z10 tiles,
    # within the float32 slack of the index's boxes: each is counted once, on its own side.
    z, x, y = tile_of(K1, 10)
    fy = position(*location(K1), z)[1]
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * fy / 2**z))))
    for n, dx in ((98, -0.4), (99, 0.4)):
        await conn.execute(text("""
            INSERT INTO activities (id, staff_id, category_code, started_at, geom,
                                    citizens_served, outcome_met)
            VALUES (:id, :s, 'POSYANDU', '2026-10-15T10:00+07:00', ST_Point(:lon, :lat, 4326),
                    1, true)"""),
            {"id": aid(n), "s": S1, "lon": (x + 1 + dx / EXTENT) / 2**z * 360 - 180, "lat": lat})
    await conn.commit()
    left, right = (z, x, y), (z, x + 1, y)
    tiles = {tile_of(a[4], z) for a in IN_OCTOBER} | {right}
    counts = {t: sum(f["properties"]["count"] for f in await get_tile(api, "activities", t))
              for t in tiles}
    assert counts[left] == sum(tile_of(a[4], z) == left for a in IN_OCTOBER) + 1
    assert counts[right] == sum(tile_of(a[4], z) == right for a in IN_OCTOBER) + 1
    assert sum(counts.values()) == len(IN_OCTOBER) + 2


@pytest.mark.parametrize(("params", "expected"), [
    ({"category": "LAYANAN"}, 2),
    ({"outcomeMet": "false"}, 2),
    ({"areaCode": K1}, 3),
    ({"unitCode": "KEC-357801"}, 2),
    ({"staffId": str(S1)}, sum(1 for a in IN_OCTOBER if a[1] == S1)),
])
async def test_clusters_follow_the_filter(api: Api, params: dict[str, str], expected: int) -> None:
    tiles = {tile_of(a[4], 10) for a in IN_OCTOBER}
    total = 0
    for t in sorted(tiles):
        r = await api.http.get(url("activities", t), params={**OCT, **params})
        if r.status_code == 200:
            decoded = mapbox_vector_tile.decode(r.content)
            total += sum(f["properties"]["count"] for f in decoded["activities"]["features"])
        else:
            assert r.status_code == 204
    assert total == expected


@pytest.mark.parametrize("layer", ["areas", "activities"])
async def test_an_empty_tile_is_204(api: Api, layer: str) -> None:
    r = await api.http.get(f"/tiles/{layer}/14/0/0.mvt", params=OCT)  # the Arctic, off Alaska
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["cache-control"] == "private, max-age=60"    # read with a token


async def test_a_period_without_activities_is_an_empty_activities_tile(api: Api) -> None:
    r = await api.http.get(url("activities", tile_of(K1, 14)),
                           params={"from": "2025-01-01", "to": "2025-01-31"})
    assert r.status_code == 204


@pytest.mark.parametrize(("path", "names"), [
    ("/tiles/areas/23/0/0.mvt", ["tile z", "0..22", "'23'"]),
    ("/tiles/areas/10/1024/0.mvt", ["tile x", "0..1023", "z=10", "'1024'"]),
    ("/tiles/activities/10/0/1024.mvt", ["tile y", "0..1023", "'1024'"]),
    ("/tiles/activities/0/0/1.mvt", ["tile y", "0..0", "'1'"]),
    ("/tiles/areas/3/-1/0.mvt", ["tile x", "'-1'"]),
    ("/tiles/areas/abc/0/0.mvt", ["tile z", "'abc'"]),
    ("/tiles/areas/1.5/0/0.mvt", ["tile z", "'1.5'"]),
])
async def test_out_of_range_tiles_are_400(api: Api, path: str, names: list[str]) -> None:
    body = await error(api.http, path, 400, **OCT)
    assert body["code"] == "BAD_USER_INPUT"
    for name in names:
        assert name in body["message"]


@pytest.mark.parametrize(("params", "code", "words"), [
    ({"from": "2026-13-01"}, "BAD_USER_INPUT", ["'from'", "2026-13-01"]),
    ({"from": "2026-10-31", "to": "2026-10-01"}, "BAD_USER_INPUT", ["after"]),
    ({"from": "2024-01-01", "to": "2026-10-01"}, "LIMIT_EXCEEDED", ["maximum"]),
    ({"category": "NOPE"}, "NOT_FOUND", ["'NOPE'"]),
    ({"unitCode": "NOPE"}, "NOT_FOUND", ["'NOPE'"]),
    ({"areaCode": "35.78.99.9999"}, "NOT_FOUND", ["35.78.99.9999"]),
    ({"outcomeMet": "yes"}, "BAD_USER_INPUT", ["outcomeMet", "'yes'"]),
    ({"level": "RT"}, "BAD_USER_INPUT", ["level", "'RT'"]),
    ({"categroy": "LAYANAN"}, "BAD_USER_INPUT", ["'categroy'"]),
])
async def test_bad_parameters_are_400_with_a_code(api: Api, params: dict[str, str], code: str,
                                                   words: list[str]) -> None:
    for layer in ("areas", "activities"):
        if layer == "activities" and "level" in params:
            continue
        body = await error(api.http, url(layer, tile_of(K1, 12)), 400, **params)
        assert body["code"] == code
        for word in words:
            assert word in body["message"]


async def test_level_is_only_for_areas(api: Api) -> None:
    body = await error(api.http, url("activities", tile_of(K1, 12)), 400, level="KELURAHAN")
    assert "'level'" in body["message"]


async def test_unknown_layer_is_404(api: Api) -> None:
    for path in ("/tiles/roads/10/0/0.mvt", "/tiles/roads.json"):
        body = await error(api.http, path, 404)
        assert body["code"] == "NOT_FOUND"
        assert "'roads'" in body["message"]
        assert "areas, activities" in body["message"]


async def test_etag_and_conditional_requests(api: Api) -> None:
    path = url("areas", tile_of(K1, 14))
    r = await api.http.get(path, params=OCT)
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    assert r.headers["cache-control"] == "private, max-age=60"    # read with a token
    again = await api.http.get(path, params=OCT)
    assert again.headers["etag"] == etag

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r304 = await api.http.get(path, params=OCT, headers={"If-None-Match": header})
        assert r304.status_code == 304
        assert r304.content == b""
        assert r304.headers["etag"] == etag
    stale = await api.http.get(path, params=OCT, headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
    assert stale.content == r.content

    other = await api.http.get(path, params={**OCT, "category": "LAYANAN"})
    assert other.status_code == 200
    assert other.headers["etag"] != etag


@pytest.mark.parametrize("layer", ["areas", "activities"])
async def test_tilejson(api: Api, layer: str) -> None:
    params = {**OCT, "category": "POSYANDU"}
    r = await api.http.get(f"/tiles/{layer}.json", params=params)
    assert r.status_code == 200
    doc = r.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [f"http://jangkau.test/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"
                            "?from=2026-10-01&to=2026-10-31&category=POSYANDU"]
    assert doc["scheme"] == "xyz"
    assert 0 <= doc["minzoom"] < doc["maxzoom"] <= 22
    west, south, east, north = doc["bounds"]
    for place in (K1, K3):
        lon, lat = location(place)
        assert west < lon < east and south < lat < north
    assert 112.4 < west < east < 113.0 and -7.5 < south < north < -7.0
    lon, lat, zoom = doc["center"]
    assert west < lon < east and south < lat < north and doc["minzoom"] <= zoom <= doc["maxzoom"]
    [vl] = doc["vector_layers"]
    assert vl["id"] == layer
    assert all(isinstance(v, str) for v in vl["fields"].values())
    # Every property a tile carries is announced.
    tile_url = doc["tiles"][0].replace("http://jangkau.test", "")
    for z in (12, 14):
        t = tile_of(K1, z)
        got = await api.http.get(tile_url.format(z=t[0], x=t[1], y=t[2]))
        assert got.status_code == 200
        decoded = mapbox_vector_tile.decode(got.content)
        keys = set().union(*(f["properties"] for f in decoded[layer]["features"]))
        assert keys and keys <= set(vl["fields"])


async def test_tilejson_checks_its_parameters(api: Api) -> None:
    body = await error(api.http, "/tiles/areas.json", 400, level="DESA")
    assert body["code"] == "BAD_USER_INPUT"


def test_the_period_defaults_to_the_last_30_wib_days() -> None:
    q = parse_query(QueryParams(""), "areas", Settings(), today=date(2026, 10, 31))
    assert (q.level, q.period) == ("KELURAHAN", Period(date(2026, 10, 2), date(2026, 10, 31)))
    assert q.filter == ActivityFilter()
    q = parse_query(QueryParams("to=2026-03-01&outcomeMet=true"), "activities", Settings(),
                    today=date(2026, 10, 31))
    assert q.period == Period(date(2026, 1, 31), date(2026, 3, 1))
    assert q.filter == ActivityFilter(outcome_met=True)


def test_activity_points_narrow_to_one_person_and_only_points() -> None:
    staff = "0b0e7f9e-3a1c-4c1e-9d55-1a2b3c4d5e6f"
    q = parse_query(QueryParams(f"staffId={staff}"), "activities", Settings(),
                    today=date(2026, 10, 31))
    assert q.filter == ActivityFilter(staff_id=uuid.UUID(staff))
    with pytest.raises(BadInput, match="staffId"):
        parse_query(QueryParams("staffId=nobody"), "activities", Settings(),
                    today=date(2026, 10, 31))
    with pytest.raises(BadInput, match="unknown query parameter 'staffId'"):
        parse_query(QueryParams(f"staffId={staff}"), "areas", Settings(), today=date(2026, 10, 31))


@pytest.mark.parametrize("layer", ["areas", "activities"])
async def test_a_recorded_activity_changes_the_etag_of_its_tile(api: Api, layer: str) -> None:
    path = url(layer, tile_of(K1, 14))
    etag = (await api.http.get(path, params=OCT)).headers["etag"]
    await api.data(RECORD_ONE, {"i": activity(40, K1)})
    after = await api.http.get(path, params=OCT, headers={"If-None-Match": etag})
    assert after.status_code == 200                  # never a stale 304
    assert after.headers["etag"] != etag
