"""area / areas through HTTP: hierarchy, geometry, km² and label points of the real boundaries."""

from __future__ import annotations

import orjson
import pytest
import shapely
from shapely.geometry import box, shape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import areas
from tests.conftest import Api
from tests.seed import K1, K2, KEC1, KEC2, inside, kelurahan_shapes

CITY = "35.78"


async def test_city_has_31_kecamatan_and_no_parent(api: Api) -> None:
    data = await api.data("""{ area(code: "35.78") {
        code name level parent { code } children { code level parent { code } } } }""")
    city = data["area"]
    assert (city["code"], city["level"], city["parent"]) == (CITY, "CITY", None)
    assert city["name"]
    kids = city["children"]
    assert len(kids) == 31
    assert {k["level"] for k in kids} == {"KECAMATAN"}
    assert {k["parent"]["code"] for k in kids} == {CITY}
    assert [k["code"] for k in kids] == sorted(k["code"] for k in kids)


async def test_kecamatan_children_are_its_kelurahan(api: Api) -> None:
    data = await api.data("""query($c: String!) { area(code: $c) {
        level parent { code level } children { code level } } }""", {"c": KEC1})
    kec = data["area"]
    assert kec["level"] == "KECAMATAN"
    assert kec["parent"] == {"code": CITY, "level": "CITY"}
    expected = sorted(c for c in kelurahan_shapes() if c.startswith(KEC1 + "."))
    assert [c["code"] for c in kec["children"]] == expected
    assert K1 in expected and K2 in expected
    assert {c["level"] for c in kec["children"]} == {"KELURAHAN"}


async def test_kelurahan_has_no_children(api: Api) -> None:
    data = await api.data("""query($c: String!) { area(code: $c) {
        code level parent { code } children { code } } }""", {"c": K1})
    assert data["area"] == {"code": K1, "level": "KELURAHAN", "parent": {"code": KEC1},
                            "children": []}


async def test_unknown_area_is_null(api: Api) -> None:
    assert await api.data('{ area(code: "99.99") { code } }') == {"area": None}


@pytest.mark.parametrize(("level", "count"), [("CITY", 1), ("KECAMATAN", 31), ("KELURAHAN", 153)])
async def test_areas_by_level(api: Api, level: str, count: int) -> None:
    data = await api.data("query($l: AreaLevel) { areas(level: $l) { code level } }", {"l": level})
    rows = data["areas"]
    assert len(rows) == count
    assert {r["level"] for r in rows} == {level}
    assert [r["code"] for r in rows] == sorted(r["code"] for r in rows)


async def test_all_areas_without_arguments(api: Api) -> None:
    data = await api.data("{ areas { code } }")
    assert len(data["areas"]) == 1 + 31 + 153


async def test_areas_by_parent(api: Api) -> None:
    data = await api.data("query($p: String) { areas(parentCode: $p) { code parent { code } } }",
                          {"p": KEC2})
    codes = [a["code"] for a in data["areas"]]
    assert codes == sorted(c for c in kelurahan_shapes() if c.startswith(KEC2 + "."))
    assert {a["parent"]["code"] for a in data["areas"]} == {KEC2}


async def test_areas_unknown_parent_is_not_found(api: Api) -> None:
    err = await api.error('{ areas(parentCode: "35.78.99") { code } }')
    assert err["extensions"]["code"] == "NOT_FOUND"
    assert "35.78.99" in err["message"]


async def test_areas_bbox_agrees_with_shapely(api: Api) -> None:
    """The kelurahan a box touches are the ones whose served geometry intersects it."""
    x, y = inside(K1)
    bbox = [x - 0.01, y - 0.01, x + 0.01, y + 0.01]
    everything = await api.data("{ areas(level: KELURAHAN) { code geometry } }")
    expected = [a["code"] for a in everything["areas"]
                if shape(a["geometry"]).intersects(box(*bbox))]
    data = await api.data("query($b: [Float!]) { areas(level: KELURAHAN, bbox: $b) { code } }",
                          {"b": bbox})
    got = [a["code"] for a in data["areas"]]
    assert got == expected
    assert K1 in got and 1 < len(got) < 153


async def test_areas_bad_bbox_is_bad_input(api: Api) -> None:
    err = await api.error("{ areas(bbox: [112.8, -7.2, 112.7]) { code } }")
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert "minLon" in err["message"]


async def test_geometry_is_a_multipolygon_with_its_label_point_inside(api: Api) -> None:
    data = await api.data("{ areas { code geometry labelPoint } }")
    for a in data["areas"]:
        assert a["geometry"]["type"] == "MultiPolygon", a["code"]
        geom = shape(a["geometry"])
        assert geom.is_valid, a["code"]
        assert a["labelPoint"]["type"] == "Point"
        assert geom.covers(shape(a["labelPoint"])), a["code"]


async def test_geometry_is_rfc7946_counter_clockwise(api: Api) -> None:
    data = await api.data("query($c: String!) { area(code: $c) { geometry } }", {"c": K1})
    for poly in shape(data["area"]["geometry"]).geoms:
        assert poly.exterior.is_ccw


async def test_area_km2_matches_a_utm_area(api: Api, conn: AsyncConnection) -> None:
    """Spheroid km² agree with planar km² in UTM 49S to well under 1 % at Surabaya."""
    data = await api.data("{ areas { code areaKm2 } }")
    utm = dict((await conn.execute(text(
        "SELECT code, ST_Area(ST_Transform(geom, 32749)) / 1e6 FROM areas"))).all())
    assert len(utm) == len(data["areas"]) == 185
    for a in data["areas"]:
        assert a["areaKm2"] == pytest.approx(utm[a["code"]], rel=0.005), a["code"]
    city = next(a for a in data["areas"] if a["code"] == CITY)
    kelurahan = sum(a["areaKm2"] for a in data["areas"] if a["code"].count(".") == 3)
    assert 250 < city["areaKm2"] < 450
    # Neighbouring kelurahan overlap a little in the source data: their sum is close, not equal.
    assert kelurahan == pytest.approx(city["areaKm2"], rel=0.02)


async def test_geometry_goes_out_as_postgis_wrote_it(api: Api, conn: AsyncConnection) -> None:
    """The GeoJSON text is PostGIS's own, byte for byte: not parsed and re-serialised."""
    raw = await api.http.post("/graphql", json={
        "query": "query($c: String!) { area(code: $c) { geometry } }", "variables": {"c": K1}})
    area_id = await conn.scalar(text("SELECT id FROM areas WHERE code = :c"), {"c": K1})
    written = (await areas.geometries(conn, [area_id]))[area_id]
    assert b'{"data":{"area":{"geometry":' + written.encode() + b"}}}" == raw.content
    # ...and it is the stored boundary, up to the 6-decimal output grid (~0.1 m).
    stored = await conn.scalar(text("SELECT ST_AsText(geom) FROM areas WHERE id = :i"),
                               {"i": area_id})
    assert shapely.hausdorff_distance(shape(orjson.loads(written)), shapely.from_wkt(stored)) < 2e-6
