"""Zoom-band boundaries: a valid coverage that still tiles the city at every band, nests, keeps
neighbours' shared edges, loses vertices as zoom falls, and is rebuilt by every import."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping, shape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import migrate
from geo.areas import GRID
from geo.boundaries import import_areas
from geo.db import create_engine
from geo.demo import BOUNDARY_FILES
from geo.errors import BadInput
from geo.shapes import (
    BANDS,
    MAX_ZOOM,
    SLIVER_WIDTH,
    Band,
    band_for_zoom,
    clean_kelurahan,
    fill_slivers,
)
from tests.conftest import Api
from tests.rfc7946 import check_geometry
from tests.seed import K1, KEC1, kelurahan_shapes

LEVELS = ("KELURAHAN", "KECAMATAN", "CITY")
ONE_M2 = 1.0  # "a hair": the most two simplified neighbours may overlap, in m²


def _originals() -> tuple[list[str], list[shapely.Geometry]]:
    shapes = kelurahan_shapes()
    codes = sorted(shapes)
    return codes, [shapes[c] for c in codes]


def _overlapping(geoms: list[shapely.Geometry]) -> list[tuple[int, int]]:
    left, right = shapely.STRtree(geoms).query(geoms, predicate="overlaps")
    return [(i, j) for i, j in zip(left, right, strict=True) if i < j]


async def _band_kelurahan(conn: AsyncConnection, band: int) -> dict[str, shapely.Geometry]:
    rows = await conn.execute(text("""
        SELECT a.code, ST_AsBinary(s.geom) FROM area_shapes s JOIN areas a ON a.id = s.area_id
        WHERE a.level = 'KELURAHAN' AND s.band = :band ORDER BY a.code"""), {"band": band})
    return {code: shapely.from_wkb(wkb) for code, wkb in rows.all()}


def test_each_zoom_has_one_band_and_bands_follow_each_other() -> None:
    assert [band_for_zoom(z).number for z in range(MAX_ZOOM + 1)] == (
        [0] * 10 + [1] * 2 + [2] * 2 + [3] * (MAX_ZOOM - 13))
    assert [b.number for b in BANDS] == list(range(len(BANDS)))
    assert BANDS[0].min_zoom == 0 and BANDS[-1].max_zoom == MAX_ZOOM
    for lower, higher in zip(BANDS, BANDS[1:], strict=False):
        assert higher.min_zoom == lower.max_zoom + 1
        assert higher.tolerance < lower.tolerance
    for zoom in (-1, MAX_ZOOM + 1):
        with pytest.raises(BadInput, match="zoom"):
            band_for_zoom(zoom)


def test_cleaning_gives_each_overlap_to_the_lowest_code() -> None:
    codes, originals = _originals()
    assert not shapely.coverage_is_valid(originals), "the source data was expected to overlap"
    cleaned = clean_kelurahan(originals)
    assert shapely.coverage_is_valid(cleaned)
    assert shapely.is_valid(cleaned).all()
    # Each is its original minus every lower code, up to hairlines narrower than the grid.
    lower: shapely.Geometry = shapely.Polygon()
    for code, original, mine in zip(codes, originals, cleaned, strict=True):
        rule = original.difference(lower)
        assert shapely.symmetric_difference(mine, rule).buffer(-GRID).is_empty, code
        lower = lower.union(original)
    assert len(_overlapping(originals)) > 200


async def test_the_map_draws_an_overlap_where_the_database_counts_it(conn: AsyncConnection) -> None:
    codes, originals = _originals()
    cleaned = clean_kelurahan(originals)
    points = []
    for i, j in _overlapping(originals):
        core = originals[i].intersection(originals[j]).buffer(-5 * GRID)
        if not core.is_empty:
            points.append(core.representative_point())
    assert len(points) > 100
    owners = (await conn.execute(text("""
        SELECT (SELECT code FROM areas
                WHERE id = kelurahan_at(ST_SetSRID(ST_MakePoint(x, y), 4326)))
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, n)
        ORDER BY n"""), {"xs": [p.x for p in points], "ys": [p.y for p in points]})).scalars().all()
    for p, owner in zip(points, owners, strict=True):
        drawn = [codes[k] for k in shapely.STRtree(cleaned).query(p, predicate="covered_by")]
        assert drawn == [owner]


def _holes(coverage: np.ndarray) -> np.ndarray:
    union = shapely.coverage_union_all(coverage)
    return shapely.polygons(np.array([r for p in shapely.get_parts(union) for r in p.interiors],
                                     dtype=object))


async def test_sliver_gaps_are_drawn_filled_but_still_count_for_no_kelurahan(
        conn: AsyncConnection) -> None:
    """No white hairlines inside a kecamatan: each sliver between kelurahan joins a neighbour
    in the shapes drawn, while the database still puts a point there in no kelurahan."""
    cleaned = clean_kelurahan(_originals()[1])
    filled = fill_slivers(cleaned)
    assert shapely.coverage_is_valid(filled) and shapely.is_valid(filled).all()
    before, after = _holes(cleaned), _holes(filled)
    assert len(before) > 300
    # What is left is wider than a sliver: the map keeps real gaps.
    assert len(after) < 5
    assert not shapely.is_empty(shapely.buffer(after, -SLIVER_WIDTH / 2)).any()
    added = [shapely.difference(f, c, grid_size=GRID) for f, c in zip(filled, cleaned, strict=True)]
    assert all(shapely.covers(f, c) for f, c in zip(filled, cleaned, strict=True))
    gaps = shapely.union_all(before)
    slivers = [p for a in added for p in shapely.get_parts(a) if not p.is_empty]
    assert len(slivers) > 300
    assert all(shapely.buffer(gaps, GRID).covers(p) for p in slivers), "added outside a gap"
    points = [p.point_on_surface() for p in slivers[::25]]
    owners = (await conn.execute(text("""
        SELECT kelurahan_at(ST_SetSRID(ST_MakePoint(x, y), 4326))
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS p(x, y)"""),
        {"xs": [p.x for p in points], "ys": [p.y for p in points]})).scalars().all()
    assert owners == [None] * len(points)


async def test_every_area_has_a_valid_shape_on_the_grid_per_band(conn: AsyncConnection) -> None:
    rows = (await conn.execute(text("""
        SELECT a.level, s.band, s.vertices, ST_NPoints(s.geom), ST_IsValid(s.geom),
               ST_AsBinary(s.geom)
        FROM areas a JOIN area_shapes s ON s.area_id = a.id"""))).all()
    assert len(rows) == (1 + 31 + 153) * len(BANDS)
    for level, band, vertices, npoints, valid, wkb in rows:
        assert vertices == npoints > 0 and valid, (level, band)
        xy = shapely.get_coordinates(shapely.from_wkb(wkb)) / GRID
        assert np.abs(xy - np.round(xy)).max() < 1e-6, "a vertex off the output grid"


async def test_vertex_counts_fall_as_zoom_falls(conn: AsyncConnection) -> None:
    rows = (await conn.execute(text("""
        SELECT a.level, s.band, sum(s.vertices) FROM areas a JOIN area_shapes s ON s.area_id = a.id
        GROUP BY 1, 2"""))).all()
    totals = {(level, band): n for level, band, n in rows}
    for level in LEVELS:
        counts = [totals[(level, b.number)] for b in BANDS]
        assert counts == sorted(set(counts)), (level, counts)
    cleaned = shapely.get_num_coordinates(clean_kelurahan(_originals()[1])).sum()
    assert totals[("KELURAHAN", BANDS[-1].number)] < cleaned
    assert totals[("KELURAHAN", 0)] < cleaned / 2


@pytest.mark.parametrize("band", BANDS, ids=lambda b: f"band{b.number}")
async def test_simplified_kelurahan_still_tile_the_city(conn: AsyncConnection, band: Band) -> None:
    shift = 3 * band.tolerance_m
    # The originals as the map means to draw them: their sliver gaps filled (fill_slivers).
    inside, covers, changed, perimeter = (await conn.execute(text("""
        WITH u AS (SELECT ST_Union(geom) AS g FROM areas WHERE level = 'KELURAHAN'),
             r AS (SELECT (ST_DumpRings((ST_Dump(u.g)).geom)).* FROM u),
             o AS (SELECT ST_Transform(ST_Union(u.g, ST_Union(r.geom)), 32749) AS g
                   FROM u, r WHERE r.path[1] > 0
                     AND ST_IsEmpty(ST_Buffer(r.geom, -CAST(:w AS float8) / 2))
                   GROUP BY u.g),
             s AS (SELECT ST_Transform(ST_Union(s.geom), 32749) AS g
                   FROM area_shapes s JOIN areas a ON a.id = s.area_id
                   WHERE a.level = 'KELURAHAN' AND s.band = :band)
        SELECT ST_Covers(ST_Buffer(o.g, :d), s.g), ST_Covers(ST_Buffer(s.g, :d), o.g),
               ST_Area(ST_SymDifference(o.g, s.g)), ST_Perimeter(o.g)
        FROM o, s"""), {"band": band.number, "d": shift, "w": SLIVER_WIDTH})).one()
    assert inside and covers, f"the union moved more than {shift:.0f} m"
    # On average the outline moves by less than a tenth of the tolerance.
    assert changed < band.tolerance_m / 10 * perimeter


@pytest.mark.parametrize("band", BANDS, ids=lambda b: f"band{b.number}")
@pytest.mark.parametrize("level", ["KELURAHAN", "KECAMATAN"])
async def test_no_two_simplified_areas_overlap(conn: AsyncConnection, band: Band,
                                               level: str) -> None:
    pairs, worst = (await conn.execute(text("""
        SELECT count(*), max(ST_Area(ST_Intersection(x.geom, y.geom)::geography))
        FROM area_shapes x JOIN areas ax ON ax.id = x.area_id
        JOIN area_shapes y ON y.band = x.band AND y.area_id > x.area_id AND y.geom && x.geom
        JOIN areas ay ON ay.id = y.area_id
        WHERE x.band = :band AND ax.level = :level AND ay.level = :level
          AND ST_Intersects(x.geom, y.geom)"""), {"band": band.number, "level": level})).one()
    assert pairs > (300 if level == "KELURAHAN" else 60)
    assert worst < ONE_M2


@pytest.mark.parametrize("band", BANDS, ids=lambda b: f"band{b.number}")
async def test_neighbours_still_share_their_edges(conn: AsyncConnection, band: Band) -> None:
    simplified = await _band_kelurahan(conn, band.number)
    assert shapely.coverage_is_valid(list(simplified.values())), "edges no longer match exactly"
    sharing = (await conn.execute(text("""
        SELECT ax.code, ay.code,
               ST_Intersects(ax.geom, ay.geom)
                   AND ST_Dimension(ST_Intersection(ax.geom, ay.geom)) >= 1 AS originals_touch,
               ST_Length(ST_CollectionExtract(ST_Intersection(x.geom, y.geom), 2)) > 0 AS shared,
               ST_Distance(ax.geom::geography, ay.geom::geography) AS apart
        FROM areas ax JOIN areas ay ON ay.code > ax.code AND ay.level = 'KELURAHAN'
             AND ST_DWithin(ax.geom, ay.geom, 0.01)
        JOIN area_shapes x ON x.area_id = ax.id AND x.band = :band
        JOIN area_shapes y ON y.area_id = ay.id AND y.band = :band
        WHERE ax.level = 'KELURAHAN'"""), {"band": band.number})).all()
    touching = {(a, b) for a, b, touch, _, _ in sharing if touch}
    shared = {(a, b) for a, b, _, share, _ in sharing if share}
    assert len(touching) > 300
    assert touching <= shared
    # Simplifying may close a sliver gap, so that two kelurahan near each other come to touch.
    for a, b, _, _, apart in sharing:
        assert (a, b) not in shared - touching or apart < 3 * band.tolerance_m, (a, b, apart)


@pytest.mark.parametrize("band", BANDS, ids=lambda b: f"band{b.number}")
async def test_kecamatan_and_city_are_unions_of_their_kelurahan(conn: AsyncConnection,
                                                                band: Band) -> None:
    rows = (await conn.execute(text("""
        SELECT p.level, ST_Area(ST_SymDifference(ps.geom, ST_Union(ks.geom))::geography)
        FROM areas p JOIN area_shapes ps ON ps.area_id = p.id AND ps.band = :band
        JOIN area_closure c ON c.ancestor_id = p.id
        JOIN areas k ON k.id = c.descendant_id AND k.level = 'KELURAHAN'
        JOIN area_shapes ks ON ks.area_id = k.id AND ks.band = :band
        WHERE p.level <> 'KELURAHAN' GROUP BY p.id, p.level, ps.geom"""),
        {"band": band.number})).all()
    assert sorted(level for level, _ in rows) == ["CITY"] + ["KECAMATAN"] * 31
    assert max(diff for _, diff in rows) < 0.01


GEOMETRIES = "query($z: Int) { areas { code level geometry(zoom: $z) } }"


@pytest.mark.parametrize("zoom", [None, 0, 9, 10, 11, 12, 13, 14, 18])
async def test_area_geometry_is_rfc7946_at_every_band(api: Api, zoom: int | None) -> None:
    areas = (await api.data(GEOMETRIES, {"z": zoom}))["areas"]
    assert len(areas) == 185
    for a in areas:
        check_geometry(a["geometry"], f"{a['code']}.geometry")
        assert a["geometry"]["type"] == "MultiPolygon"


async def test_area_geometry_vertices_fall_as_zoom_falls(api: Api) -> None:
    def vertices(data: dict[str, Any]) -> int:
        return sum(len(ring) for a in data["areas"] for poly in a["geometry"]["coordinates"]
                   for ring in poly)
    counts = [vertices(await api.data(GEOMETRIES, {"z": z})) for z in (9, 11, 13, 14)]
    assert counts == sorted(set(counts))


async def test_area_geometry_without_zoom_is_the_original(api: Api) -> None:
    data = await api.data(
        'query($c: String!) { area(code: $c) { a: geometry b: geometry(zoom: 9) } }', {"c": K1})
    original = kelurahan_shapes()[K1]
    full, coarse = shape(data["area"]["a"]), shape(data["area"]["b"])
    assert shapely.symmetric_difference(full, original).buffer(-GRID).is_empty  # rounding only
    assert len(shapely.get_coordinates(coarse)) < len(shapely.get_coordinates(full))


@pytest.mark.parametrize("zoom", [-1, MAX_ZOOM + 1])
async def test_area_geometry_refuses_a_zoom_out_of_range(api: Api, zoom: int) -> None:
    err = await api.error('query($z: Int) { area(code: "35.78") { geometry(zoom: $z) } }',
                          {"z": zoom})
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert "zoom" in err["message"]


async def _shapes_of(conn: AsyncConnection, code: str) -> dict[int, shapely.Geometry]:
    rows = await conn.execute(text("""
        SELECT s.band, ST_AsBinary(s.geom) FROM area_shapes s JOIN areas a ON a.id = s.area_id
        WHERE a.code = :c"""), {"c": code})
    return {band: shapely.from_wkb(wkb) for band, wkb in rows.all()}


async def test_reimport_rebuilds_the_shapes(bare_db_url: str, tmp_path: Path) -> None:
    original = kelurahan_shapes()[K1]
    x0, y0, x1, y1 = original.bounds
    west = original.intersection(box(x0, y0, (x0 + x1) / 2, y1))
    path = tmp_path / "k1.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"kode": K1, "nama": "Karang Pilang"},
        "geometry": mapping(west)}]}))
    engine = create_engine(bare_db_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            before, kec_before = await _shapes_of(conn, K1), await _shapes_of(conn, KEC1)
            await conn.rollback()
            await import_areas(conn, [path])
            after, kec_after = await _shapes_of(conn, K1), await _shapes_of(conn, KEC1)
            pairs, worst = (await conn.execute(text("""
                SELECT count(*), max(ST_Area(ST_Intersection(x.geom, y.geom)::geography))
                FROM area_shapes x JOIN area_shapes y ON y.band = x.band
                     AND y.area_id > x.area_id AND ST_Intersects(x.geom, y.geom)
                JOIN areas ax ON ax.id = x.area_id AND ax.level = 'KELURAHAN'
                JOIN areas ay ON ay.id = y.area_id AND ay.level = 'KELURAHAN'"""))).one()
    finally:
        await engine.dispose()
    assert set(after) == {b.number for b in BANDS}
    for band in BANDS:
        shrunk = after[band.number].area / before[band.number].area
        assert 0.2 < shrunk < 0.8, (band.number, shrunk)
        tolerance = band.tolerance * 3
        assert west.buffer(tolerance).covers(after[band.number])
        assert after[band.number].buffer(tolerance).covers(west)
        assert kec_after[band.number].area < kec_before[band.number].area
    assert pairs > 300 and worst < ONE_M2


async def test_areas_without_kelurahan_get_shapes_of_their_own(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    engine = create_engine(empty_db_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await import_areas(conn, BOUNDARY_FILES[:2])  # the city and its kecamatan only
            rows = (await conn.execute(text("""
                SELECT a.level, s.band, s.vertices, ST_IsValid(s.geom),
                       ST_Area(ST_SymDifference(s.geom, a.geom)) / ST_Area(a.geom)
                FROM areas a JOIN area_shapes s ON s.area_id = a.id"""))).all()
    finally:
        await engine.dispose()
    assert len(rows) == 32 * len(BANDS)
    for level, band, vertices, valid, changed in rows:
        assert valid and vertices > 0 and changed < 0.05, (level, band, changed)
    totals = [sum(r[2] for r in rows if r[1] == b.number) for b in BANDS]
    assert totals == sorted(set(totals))


async def test_migration_builds_the_shapes_of_areas_already_there(bare_db_url: str) -> None:
    query = text("SELECT area_id, band, vertices, md5(ST_AsBinary(geom)) FROM area_shapes "
                 "ORDER BY 1, 2")
    engine = create_engine(bare_db_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            built_by_import = (await conn.execute(query)).all()
        await engine.dispose()
        await asyncio.to_thread(migrate.downgrade, bare_db_url, "0001")
        async with engine.connect() as conn:
            gone = await conn.scalar(text("SELECT to_regclass('area_shapes') IS NULL"))
        await engine.dispose()
        await asyncio.to_thread(migrate.upgrade, bare_db_url)
        async with engine.connect() as conn:
            built_by_migration = (await conn.execute(query)).all()
    finally:
        await engine.dispose()
    assert gone
    assert len(built_by_import) == 185 * len(BANDS)
    assert built_by_migration == built_by_import
