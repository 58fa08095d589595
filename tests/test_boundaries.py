"""Importing boundaries: the real Surabaya files, updates in place that move activities, and
bad files that are refused by name while nothing is written."""

from __future__ import annotations

import asyncio
import copy
import json
import math
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import migrate
from geo.boundaries import import_areas
from geo.db import connect
from geo.demo import BOUNDARY_FILES
from geo.errors import JangkauError
from tests.seed import ACTIVITIES, K1, K2, K3

KELURAHAN_FILE = BOUNDARY_FILES[2]
BAD = 7     # the feature the bad-file tests spoil: 35.78.02.1004, a Polygon

Doc = dict[str, Any]


@cache
def _kelurahan_doc() -> Doc:
    doc: Doc = json.loads(KELURAHAN_FILE.read_text())
    return doc


def kelurahan_doc() -> Doc:
    """A fresh copy of the shipped kelurahan file, to spoil or change."""
    return copy.deepcopy(_kelurahan_doc())


def code_of(feature: dict[str, Any]) -> str:
    code: str = feature["properties"]["kode"]
    return code


def write(path: Path, doc: Doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def map_positions(geometry: dict[str, Any], fn: Callable[[list[float]], list[float]]) -> None:
    """Apply `fn` to every position of a Polygon or MultiPolygon, in place."""
    coords = geometry["coordinates"]
    for polygon in [coords] if geometry["type"] == "Polygon" else coords:
        for ring in polygon:
            ring[:] = [fn(p) for p in ring]


AREAS_CHECKSUM = text("""
    SELECT md5(string_agg(concat_ws('|', id, code, name, level, parent_id, ST_AsEWKB(geom),
                                     area_m2, ST_AsEWKB(label_point), updated_at), ',' ORDER BY id))
        || (SELECT count(*) FROM area_parts) || '/' || (SELECT count(*) FROM area_closure)
        || (SELECT md5(string_agg(id || ':' || coalesce(area_id, 0), ',' ORDER BY id))
            FROM activities)
    FROM areas""")


async def checksum(conn: AsyncConnection) -> str:
    value: str = await conn.scalar(AREAS_CHECKSUM)
    await conn.commit()
    return value


async def ids_by_code(conn: AsyncConnection) -> dict[str, int]:
    rows = dict((await conn.execute(text("SELECT code, id FROM areas"))).all())
    await conn.commit()
    return rows


async def activity_places(conn: AsyncConnection) -> dict[Any, str | None]:
    rows = dict((await conn.execute(text("""
        SELECT a.id, x.code FROM activities a LEFT JOIN areas x ON x.id = a.area_id"""))).all())
    await conn.commit()
    return rows


@pytest.fixture
async def migrated_url(empty_db_url: str) -> str:
    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    return empty_db_url


@pytest.fixture
async def seeded(db_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection to a clone with the real boundaries and the hand-made seed, no transaction."""
    async with connect(db_url) as conn:
        yield conn


async def test_import_of_the_real_files(migrated_url: str) -> None:
    async with connect(migrated_url) as conn:
        report = await import_areas(conn, BOUNDARY_FILES)
        assert (report.inserted, report.updated, report.reassigned_activities) == (185, 0, 0)
        assert report.repairs == []

        rows = (await conn.execute(text("""
            SELECT a.code, a.level, p.code AS parent, p.level AS parent_level, a.area_m2,
                   ST_IsValid(a.geom) AS valid, ST_Contains(a.geom, a.label_point) AS labelled
            FROM areas a LEFT JOIN areas p ON p.id = a.parent_id"""))).all()
        levels = [r.level for r in rows]
        assert [levels.count(lvl) for lvl in ("CITY", "KECAMATAN", "KELURAHAN")] == [1, 31, 153]
        assert {r.code for r in rows if r.level == "KELURAHAN"} == {
            code_of(f) for f in _kelurahan_doc()["features"]}
        for r in rows:
            assert r.valid and r.labelled and r.area_m2 > 0, r.code
            if r.level == "CITY":
                assert (r.code, r.parent) == ("35.78", None)
            else:
                assert r.parent == r.code.rsplit(".", 1)[0], r.code
                assert r.parent_level == {"KECAMATAN": "CITY", "KELURAHAN": "KECAMATAN"}[r.level]
        city = next(r.area_m2 for r in rows if r.level == "CITY")
        kelurahan = sum(r.area_m2 for r in rows if r.level == "KELURAHAN")
        assert 300e6 < city < 370e6          # square metres, not square degrees
        assert math.isclose(kelurahan, city, rel_tol=0.02)

        depths = dict((await conn.execute(text(
            "SELECT depth, count(*) FROM area_closure GROUP BY depth"))).all())
        assert depths == {0: 185, 1: 184, 2: 153}
        city_descendants = await conn.scalar(text("""
            SELECT count(*) FROM area_closure c JOIN areas a ON a.id = c.ancestor_id
            WHERE a.level = 'CITY'"""))
        assert city_descendants == 185
        wrong_links = await conn.scalar(text("""
            SELECT count(*) FROM area_closure c
            JOIN areas d ON d.id = c.descendant_id
            LEFT JOIN areas p ON p.id = d.parent_id
            WHERE (c.depth = 0 AND c.ancestor_id <> d.id)
               OR (c.depth = 1 AND c.ancestor_id IS DISTINCT FROM d.parent_id)
               OR (c.depth = 2 AND c.ancestor_id IS DISTINCT FROM p.parent_id)"""))
        assert wrong_links == 0

        parts = (await conn.execute(text("""
            SELECT a.code, ST_Area(a.geom) AS whole, sum(ST_Area(p.geom)) AS pieces
            FROM areas a JOIN area_parts p ON p.area_id = a.id GROUP BY a.id"""))).all()
        assert len(parts) == 153
        for code, whole, pieces in parts:
            assert math.isclose(whole, pieces, rel_tol=1e-9), code


async def test_reimport_updates_in_place(seeded: AsyncConnection) -> None:
    ids = await ids_by_code(seeded)
    places = await activity_places(seeded)

    report = await import_areas(seeded, BOUNDARY_FILES)

    assert (report.inserted, report.updated, report.reassigned_activities) == (0, 185, 0)
    assert await ids_by_code(seeded) == ids
    assert await activity_places(seeded) == places


def swap_k1_k2(doc: Doc) -> dict[str, str | None]:
    k1, k2 = (next(f for f in doc["features"] if code_of(f) == c) for c in (K1, K2))
    k1["geometry"], k2["geometry"] = k2["geometry"], k1["geometry"]
    return {K1: K2, K2: K1}


def shift_k3_east(doc: Doc) -> dict[str, str | None]:
    """Half a degree east: K3's polygon no longer covers anything of Surabaya's."""
    feature = next(f for f in doc["features"] if code_of(f) == K3)
    map_positions(feature["geometry"], lambda p: [p[0] + 0.5, p[1]])
    return {K3: None}


@pytest.mark.parametrize("change", [swap_k1_k2, shift_k3_east])
async def test_reimport_moves_the_activities_whose_kelurahan_changed(
        seeded: AsyncConnection, tmp_path: Path,
        change: Callable[[Doc], dict[str, str | None]]) -> None:
    doc = kelurahan_doc()
    moves = change(doc)
    ids = await ids_by_code(seeded)

    report = await import_areas(seeded, [write(tmp_path / "kelurahan.geojson", doc)])

    expected = {a[0]: moves.get(a[4], a[4]) if a[4] else None for a in ACTIVITIES}
    moved = sum(1 for a in ACTIVITIES if a[4] in moves)
    assert moved > 0
    assert (report.inserted, report.updated, report.reassigned_activities) == (0, 153, moved)
    assert await activity_places(seeded) == expected
    assert await ids_by_code(seeded) == ids
    outside = await seeded.scalar(text(
        "SELECT count(*) FROM activities WHERE outside_kelurahan AND area_id IS NULL"))
    assert outside == sum(1 for v in expected.values() if v is None)


def _utm_49s(p: list[float]) -> list[float]:
    """Roughly where a position lands in EPSG:32749 (metres): what a projected file holds."""
    lon, lat = p
    return [500_000 + (lon - 111) * 111_320 * math.cos(math.radians(lat)),
            10_000_000 + lat * 110_574]


def _spoil_feature(fn: Callable[[dict[str, Any]], None]) -> Callable[[Path], list[Path]]:
    def build(tmp: Path) -> list[Path]:
        doc = kelurahan_doc()
        fn(doc["features"][BAD])
        return [write(tmp / "kelurahan.geojson", doc)]
    return build


def _set(**props: Any) -> Callable[[dict[str, Any]], None]:
    def fn(feature: dict[str, Any]) -> None:
        feature["properties"].update(props)
        if "kode" in props:
            feature["id"] = props["kode"]
    return fn


def _point(feature: dict[str, Any]) -> None:
    feature["geometry"] = {"type": "Point", "coordinates": [112.75, -7.3]}


def _swap_lat_lon(feature: dict[str, Any]) -> None:
    map_positions(feature["geometry"], lambda p: [p[1], p[0]])


def _metres(feature: dict[str, Any]) -> None:
    map_positions(feature["geometry"], _utm_49s)


def _unclosed(feature: dict[str, Any]) -> None:
    feature["geometry"]["coordinates"][0].pop()


def _crs_utm(tmp: Path) -> list[Path]:
    doc = kelurahan_doc()
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32749"}}
    for f in doc["features"]:
        map_positions(f["geometry"], _utm_49s)
    return [write(tmp / "kelurahan.geojson", doc)]


def _duplicate_in_file(tmp: Path) -> list[Path]:
    doc = kelurahan_doc()
    _set(kode=code_of(doc["features"][BAD - 1]))(doc["features"][BAD])
    return [write(tmp / "kelurahan.geojson", doc)]


def _duplicate_across_files(tmp: Path) -> list[Path]:
    doc = kelurahan_doc()
    other = {"type": "FeatureCollection", "features": [doc["features"][BAD]]}
    return [write(tmp / "kelurahan.geojson", doc), write(tmp / "other.geojson", other)]


FEATURE = f"kelurahan.geojson feature {BAD} (35.78.02.1004)"

# name: (files to import, fragments the message must hold)
BAD_FILES: dict[str, tuple[Callable[[Path], list[Path]], list[str]]] = {
    "a Point": (_spoil_feature(_point), [FEATURE, "expected Polygon or MultiPolygon, got Point"]),
    "crs EPSG:32749": (_crs_utm, ["kelurahan.geojson", "32749", "EPSG:4326"]),
    "lat/lon swapped": (_spoil_feature(_swap_lat_lon), [FEATURE, "[latitude, longitude]"]),
    "projected metres": (_spoil_feature(_metres), [FEATURE, "not WGS84", "reproject"]),
    "duplicate in a file": (_duplicate_in_file, [
        f"kelurahan.geojson feature {BAD} (35.78.02.1003)", "duplicate",
        f"kelurahan.geojson feature {BAD - 1} (35.78.02.1003)"]),
    "duplicate across files": (_duplicate_across_files, [
        "other.geojson feature 0 (35.78.02.1004)", "duplicate", FEATURE]),
    "unknown level": (_spoil_feature(_set(level="rw")), [FEATURE, "unknown level 'rw'"]),
    "code not of its level": (_spoil_feature(_set(level="kecamatan")),
                              [FEATURE, "not a KECAMATAN code"]),
    "missing parent": (_spoil_feature(_set(kode="35.78.99.1004", kecamatan_kode="35.78.99")),
                       [f"kelurahan.geojson feature {BAD} (35.78.99.1004)", "parent 35.78.99"]),
    "unclosed ring": (_spoil_feature(_unclosed), [FEATURE, "not closed"]),
}


@pytest.mark.parametrize("case", BAD_FILES)
async def test_bad_file_is_refused_by_name_and_nothing_is_written(
        seeded: AsyncConnection, tmp_path: Path, case: str) -> None:
    build, fragments = BAD_FILES[case]
    paths = build(tmp_path)
    before = await checksum(seeded)

    with pytest.raises(JangkauError) as refused:
        await import_areas(seeded, paths)

    await seeded.rollback()
    message = str(refused.value)
    for fragment in fragments:
        assert fragment in message
    assert await checksum(seeded) == before


async def test_bow_tie_is_repaired_and_reported(seeded: AsyncConnection, tmp_path: Path) -> None:
    doc = kelurahan_doc()
    feature = doc["features"][BAD]
    centre = shape(feature["geometry"]).representative_point()
    x, y, d = centre.x, centre.y, 0.001
    feature["geometry"] = {"type": "Polygon", "coordinates": [[
        [x - d, y - d], [x + d, y + d], [x + d, y - d], [x - d, y + d], [x - d, y - d]]]}

    report = await import_areas(seeded, [write(tmp_path / "kelurahan.geojson", doc)])

    assert len(report.repairs) == 1
    assert FEATURE in report.repairs[0] and "repaired" in report.repairs[0]
    assert (report.inserted, report.updated) == (0, 153)
    row = (await seeded.execute(text("""
        SELECT ST_IsValid(geom), ST_NumGeometries(geom), ST_Area(geom),
               ST_Contains(geom, label_point)
        FROM areas WHERE code = '35.78.02.1004'"""))).one()
    valid, pieces, area, labelled = row
    assert (valid, pieces, labelled) == (True, 2, True)
    assert math.isclose(area, 2 * d * d, rel_tol=1e-9)      # the bow-tie's two triangles
