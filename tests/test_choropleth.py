"""coverageMap: an RFC 7946 FeatureCollection per level whose figures are those of `coverage`,
written by PostgreSQL and passed through untouched."""

from __future__ import annotations

import json
from datetime import date
from statistics import fmean
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.coverage import attainment, coverage
from geo.periods import Period
from geo.shapes import MAX_ZOOM
from tests.conftest import Api
from tests.rfc7946 import check_feature_collection
from tests.seed import K1, K2, KEC1, OCTOBER

OCT = {"from": "2026-10-01", "to": "2026-10-31"}
OCT_PERIOD = Period(date(2026, 10, 1), date(2026, 10, 31))
COUNTS = {"KELURAHAN": 153, "KECAMATAN": 31, "CITY": 1}
PROPERTIES = {"code", "name", "level", "areaKm2", "activities", "distinctStaff", "citizensServed",
              "outcomesMet", "outcomeRate", "lastActivityAt", "activitiesPerKm2", "attainment",
              "attainmentRatio"}
MAP = """query($l: AreaLevel!, $p: Period!, $f: ActivityFilter, $z: Int) {
    coverageMap(level: $l, period: $p, filter: $f, zoom: $z) }"""
COVERAGE = """query($l: AreaLevel!, $p: Period!, $f: ActivityFilter) {
    coverage(level: $l, period: $p, filter: $f) {
        area { code name level areaKm2 } activities distinctStaff citizensServed outcomesMet
        outcomeRate lastActivityAt activitiesPerKm2
        attainment { indicator target actual ratio met } } }"""


async def _map(api: Api, level: str, zoom: int | None = None,
               f: dict[str, Any] | None = None) -> dict[str, Any]:
    data = await api.data(MAP, {"l": level, "p": OCT, "f": f, "z": zoom})
    fc: dict[str, Any] = data["coverageMap"]
    return fc


def _vertices(fc: dict[str, Any]) -> int:
    return sum(len(ring) for f in fc["features"] for poly in f["geometry"]["coordinates"]
               for ring in poly)


def _r6(x: float | None) -> float | None:
    """What the GraphQL `coverage` fields show of a double."""
    return None if x is None else round(x, 6)


@pytest.mark.parametrize("level", COUNTS)
async def test_figures_equal_those_of_coverage(api: Api, level: str) -> None:
    fc = await _map(api, level)
    rows = (await api.data(COVERAGE, {"l": level, "p": OCT}))["coverage"]
    assert len(fc["features"]) == len(rows) == COUNTS[level]
    for feature, row in zip(fc["features"], rows, strict=True):
        p = feature["properties"]
        assert set(p) == PROPERTIES
        assert feature["id"] == p["code"] == row["area"]["code"]
        assert (p["name"], p["level"], p["areaKm2"]) == (
            row["area"]["name"], row["area"]["level"], row["area"]["areaKm2"])
        for key in ("activities", "distinctStaff", "citizensServed", "outcomesMet",
                    "lastActivityAt"):
            assert p[key] == row[key], (p["code"], key)
        assert _r6(p["outcomeRate"]) == row["outcomeRate"]
        assert _r6(p["activitiesPerKm2"]) == row["activitiesPerKm2"]
        assert [{**a, "target": _r6(a["target"]), "ratio": _r6(a["ratio"])}
                for a in p["attainment"]] == row["attainment"]
        ratios = [a["ratio"] for a in p["attainment"]]
        assert p["attainmentRatio"] == (pytest.approx(fmean(ratios), rel=1e-12) if ratios else None)
        if p["code"] in OCTOBER:
            counts = (p["activities"], p["distinctStaff"], p["citizensServed"], p["outcomesMet"])
            assert counts == OCTOBER[p["code"]]


@pytest.mark.parametrize("level", COUNTS)
async def test_doubles_are_exactly_those_of_the_data_layer(api: Api, conn: AsyncConnection,
                                                           level: str) -> None:
    fc = await _map(api, level)
    rows = await coverage(conn, level, OCT_PERIOD, None)
    targets = await attainment(conn, level, OCT_PERIOD, None)
    for feature, row in zip(fc["features"], rows, strict=True):
        p = feature["properties"]
        assert p["areaKm2"] == row.area_m2 / 1e6
        assert p["outcomeRate"] == row.outcome_rate
        assert p["activitiesPerKm2"] == row.per_km2
        mine = [t for t in targets if t.area_id == row.area_id]
        assert [(a["target"], a["ratio"], a["actual"], a["met"]) for a in p["attainment"]] == [
            (t.target, t.ratio, t.actual, t.met) for t in mine]


async def test_zero_activity_areas_are_features_too(api: Api) -> None:
    features = (await _map(api, "KELURAHAN"))["features"]
    quiet = [f["properties"] for f in features if f["properties"]["activities"] == 0]
    assert len(quiet) == 150
    for p in quiet:
        assert (p["distinctStaff"], p["citizensServed"], p["outcomesMet"]) == (0, 0, 0)
        assert p["outcomeRate"] is None and p["lastActivityAt"] is None
        assert p["activitiesPerKm2"] == 0
        assert p["attainment"] == [] and p["attainmentRatio"] is None


async def test_attainment_on_the_seed(api: Api) -> None:
    by_code = {f["id"]: f["properties"] for f in (await _map(api, "KELURAHAN"))["features"]}
    assert by_code[K1]["attainment"] == [
        {"indicator": "BALITA", "target": 4, "actual": 2, "ratio": 0.5, "met": False}]
    assert by_code[K2]["attainment"] == [
        {"indicator": "ADUAN", "target": 2, "actual": 1, "ratio": 0.5, "met": False}]
    assert by_code[K1]["attainmentRatio"] == 0.5
    assert by_code[K1]["outcomeRate"] == 2 / 3
    assert by_code[K1]["lastActivityAt"] == "2026-10-06T10:00:00+07:00"
    kec = {f["id"]: f["properties"] for f in (await _map(api, "KECAMATAN"))["features"]}[KEC1]
    assert [a["indicator"] for a in kec["attainment"]] == ["ADUAN", "BALITA"]


@pytest.mark.parametrize("f", [{"category": "POSYANDU"}, {"outcomeMet": True},
                               {"areaCode": KEC1}, {"areaCode": K2, "category": "LAYANAN"}],
                         ids=["category", "outcome", "kecamatan", "kelurahan+category"])
@pytest.mark.parametrize("level", COUNTS)
async def test_filtered_figures_equal_those_of_coverage(api: Api, level: str,
                                                        f: dict[str, Any]) -> None:
    fc = await _map(api, level, f=f)
    rows = (await api.data(COVERAGE, {"l": level, "p": OCT, "f": f}))["coverage"]
    assert [x["id"] for x in fc["features"]] == [r["area"]["code"] for r in rows]
    assert rows
    for feature, row in zip(fc["features"], rows, strict=True):
        p = feature["properties"]
        assert (p["activities"], p["citizensServed"], p["lastActivityAt"]) == (
            row["activities"], row["citizensServed"], row["lastActivityAt"])
        assert [a["actual"] for a in p["attainment"]] == [a["actual"] for a in row["attainment"]]


@pytest.mark.parametrize("zoom", [None, 0, 9, 10, 11, 12, 13, 14, MAX_ZOOM])
@pytest.mark.parametrize("level", COUNTS)
async def test_rfc7946_at_every_band(api: Api, level: str, zoom: int | None) -> None:
    fc = await _map(api, level, zoom)
    check_feature_collection(fc)
    assert set(fc) == {"type", "features"}
    assert {f["geometry"]["type"] for f in fc["features"]} == {"MultiPolygon"}


async def test_vertices_fall_as_zoom_falls_and_no_zoom_is_z14(api: Api) -> None:
    counts = [_vertices(await _map(api, "KELURAHAN", z)) for z in (9, 11, 13, 14)]
    assert counts == sorted(set(counts))
    unzoomed, z14 = await _map(api, "KELURAHAN"), await _map(api, "KELURAHAN", 14)
    assert unzoomed == z14


async def test_postgres_text_goes_out_unparsed(api: Api) -> None:
    r = await api.http.post("/graphql", json={"query": MAP, "variables": {
        "l": "CITY", "p": OCT, "z": 9}})
    # json_build_object writes `"key" : value`; a Python serialiser would not.
    assert r.text.startswith('{"data":{"coverageMap":{"type" : "FeatureCollection", "features" : [')
    assert json.loads(r.text)["data"]["coverageMap"]["features"][0]["id"] == "35.78"


@pytest.mark.parametrize("zoom", [-1, MAX_ZOOM + 1])
async def test_zoom_out_of_range_is_bad_input(api: Api, zoom: int) -> None:
    err = await api.error(MAP, {"l": "KELURAHAN", "p": OCT, "z": zoom})
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert "zoom" in err["message"]


async def test_unknown_filter_area_is_not_found(api: Api) -> None:
    err = await api.error(MAP, {"l": "KELURAHAN", "p": OCT, "f": {"areaCode": "35.78.99"}})
    assert err["extensions"]["code"] == "NOT_FOUND"


SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
HOLE = [[0.2, 0.2], [0.2, 0.8], [0.8, 0.8], [0.8, 0.2], [0.2, 0.2]]


def _fc(geometry: Any, **feature: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": geometry, "properties": {}, **feature}]}


def _poly(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


FAULTS = {
    "clockwise exterior": (_fc(_poly(SQUARE[::-1])), "not counter-clockwise"),
    "counter-clockwise hole": (_fc(_poly(SQUARE, HOLE[::-1])), "hole is not clockwise"),
    "open ring": (_fc(_poly(SQUARE[:-1] + [[0, 0.5]])), "not closed"),
    "three positions": (_fc(_poly([[0, 0], [1, 0], [0, 0]])), "at least 4"),
    "lat/lon swapped": (_fc({"type": "Point", "coordinates": [-7.3, 112.7]}), "latitude"),
    "seven decimals": (_fc({"type": "Point", "coordinates": [112.1234567, -7.3]}), "decimals"),
    "crs member": ({**_fc(None), "crs": {"type": "name"}}, "crs"),
    "no properties": ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None}]}, "'properties'"),
    "boolean id": (_fc(None, id=True), "id"),
    "feature with coordinates": (_fc(None, coordinates=[]), "must not have"),
    "wrong type": ({"type": "Feature", "features": []}, "FeatureCollection"),
}


def test_the_checker_accepts_a_good_collection() -> None:
    check_feature_collection(_fc(_poly(SQUARE, HOLE), id="35.78"))


@pytest.mark.parametrize("case", FAULTS)
def test_the_checker_refuses_each_fault(case: str) -> None:
    doc, message = FAULTS[case]
    with pytest.raises(AssertionError, match=message):
        check_feature_collection(doc)
