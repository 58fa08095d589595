"""Boundaries simplified per zoom band, precomputed at import so maps never simplify per request.

Simplifying each polygon on its own moves a shared edge differently on its two sides and opens
slivers between neighbours. So the kelurahan are simplified together, as one coverage:

1. They are made a valid coverage first (`clean_kelurahan`). The source has 250 pairs of
   slightly overlapping neighbours (up to 7,300 m2); each overlap goes to the lowest code, the
   rule `kelurahan_at()` applies in the database, so the map draws a point where its activities
   are counted, at every zoom. All boundaries are noded together on the 6-decimal grid that
   GeoJSON is written to (~0.11 m), so both sides of an edge carry the same vertices and
   writing the shapes rounds nothing. The source's 368 sliver gaps (median 2 m wide, at most
   ~7.5 m) are then drawn filled (`fill_slivers`): each joins the neighbour it shares the
   longest edge with, in these display shapes only, so no map shows white hairlines where the
   source's boundaries do not quite meet. Counting is unchanged: a point in a sliver still
   belongs to no kelurahan in the database (`kelurahan_at()` reads the original boundaries).
2. Each band simplifies that whole coverage at once with `shapely.coverage_simplify`
   (Visvalingam-Whyatt: the tolerance is roughly the square root of the area of the triangles
   it removes, so it is not a distance bound; measured shifts are below). It only removes
   vertices, so the shapes stay on the grid and neighbours keep their shared edges.
3. A kecamatan, and the city, is the union of its simplified kelurahan: levels nest and share
   their edges at every band. An area with no kelurahan inside (a partial import) is simplified
   on its own.

Bands (metres at Surabaya's latitude, 7.3 deg S, where 1e-5 deg is about 1.1 m and a Web
Mercator pixel is 303, 76, 19 and 9.5 m at z9, z11, z13 and z14). Vertices are the 153 real
kelurahan's (7,861 as published, 8,896 once cleaned); "shift" is the Hausdorff distance
between the union of the simplified kelurahan and the union of the originals:

    band  zooms    tolerance      ~ metres  kelurahan vertices  shift
    0     0-9      0.001 deg      110 m     3,965               161 m
    1     10-11    0.0003 deg     33 m      6,848               85 m
    2     12-13    0.0001 deg     11 m      8,147               8.5 m
    3     14+      0.00002 deg    2.2 m     8,412               0.14 m

`tests/test_shapes.py` holds every band to a shift of at most 3 tolerances. Without a zoom,
`Area.geometry` is the full-resolution original and `coverageMap` uses band 3.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.areas import GRID, PRECISION
from geo.errors import BadInput
from geo.validate import as_multipolygon

MAX_ZOOM = 24
METRES_PER_DEGREE = 110_500.0  # at 7.3 deg S: 110,574 m north-south, 110,424 m east-west
# A gap between kelurahan narrower than this (~11 m) is a sliver of the source, drawn filled;
# wider ones (the unassigned coast) stay gaps on the map too.
SLIVER_WIDTH = 0.0001


@dataclass(frozen=True)
class Band:
    number: int
    min_zoom: int
    max_zoom: int
    tolerance: float  # degrees, coverage_simplify's tolerance

    @property
    def tolerance_m(self) -> float:
        return self.tolerance * METRES_PER_DEGREE


BANDS = (
    Band(0, 0, 9, 0.001),
    Band(1, 10, 11, 0.0003),
    Band(2, 12, 13, 0.0001),
    Band(3, 14, MAX_ZOOM, 0.00002),
)
FINEST = BANDS[-1]


def band_for_zoom(zoom: int) -> Band:
    if not 0 <= zoom <= MAX_ZOOM:
        raise BadInput(f"zoom must be between 0 and {MAX_ZOOM}, got {zoom}")
    return next(b for b in BANDS if zoom <= b.max_zoom)


# Every area, with the kelurahan inside it (none for a kelurahan itself).
READ = text("""
    SELECT a.id, a.code, a.level, ST_AsBinary(a.geom) AS wkb,
           ARRAY(SELECT c.descendant_id FROM area_closure c JOIN areas d ON d.id = c.descendant_id
                 WHERE c.ancestor_id = a.id AND c.depth > 0 AND d.level = 'KELURAHAN'
                 ORDER BY d.code) AS kelurahan
    FROM areas a ORDER BY a.code
""")

WRITE = text("""
    INSERT INTO area_shapes (area_id, band, geom, vertices)
    VALUES (:area_id, :band, ST_GeomFromWKB(:wkb, 4326), :vertices)
""")


def clean_kelurahan(geoms: Sequence[BaseGeometry]) -> np.ndarray:
    """Kelurahan given in code order as a valid coverage on the output grid.

    All boundaries are noded together by snap-rounding to the grid, the faces between them
    found, and each face given to the lowest code covering a point inside it: `kelurahan_at()`.
    Faces inside no kelurahan (the source's gaps) stay out.
    """
    original = np.asarray(geoms, dtype=object)
    lines = shapely.union_all(shapely.boundary(original), grid_size=GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    face, kel = shapely.STRtree(original).query(shapely.point_on_surface(faces),
                                                 predicate="covered_by")
    owner = np.full(len(faces), len(original))
    np.minimum.at(owner, face, kel)
    return np.array([shapely.coverage_union_all(faces[owner == i]) for i in range(len(original))],
                    dtype=object)


def fill_slivers(cleaned: np.ndarray) -> np.ndarray:
    """The coverage with each sliver gap inside it (a hole of the union narrower than
    SLIVER_WIDTH) joined to the kelurahan that shares the longest edge with it, the lowest code
    on a tie: shapes to draw, never to count with."""
    union = shapely.coverage_union_all(cleaned)
    rings = [ring for part in shapely.get_parts(union) for ring in part.interiors]
    gaps = shapely.polygons(np.array(rings, dtype=object)) if rings else np.array([])
    slivers = gaps[shapely.is_empty(shapely.buffer(gaps, -SLIVER_WIDTH / 2))]
    tree = shapely.STRtree(cleaned)
    taken: dict[int, list[BaseGeometry]] = {}
    for sliver in slivers:
        near = tree.query(sliver, predicate="intersects")
        shared = shapely.length(shapely.intersection(shapely.boundary(cleaned[near]),
                                                     sliver.exterior, grid_size=GRID))
        if len(near) and shared.max() > 0:
            best = int(near[np.lexsort((near, -shared))[0]])
            taken.setdefault(best, []).append(sliver)
    filled = cleaned.copy()
    for i, parts in taken.items():
        filled[i] = shapely.union_all([cleaned[i], *parts], grid_size=GRID)
    return filled


def _multi(geom: BaseGeometry) -> shapely.MultiPolygon:
    return shapely.MultiPolygon() if geom.is_empty else as_multipolygon(geom)


def shape_rows(areas: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of `area_shapes` for `areas` as READ returns them (id, code, level, wkb, kelurahan)."""
    kel = [a for a in areas if a.level == "KELURAHAN"]
    index = {a.id: i for i, a in enumerate(kel)}
    cleaned = fill_slivers(clean_kelurahan(shapely.from_wkb([a.wkb for a in kel])))
    rows: list[dict[str, Any]] = []
    for band in BANDS:
        simple = shapely.coverage_simplify(cleaned, band.tolerance)
        for a in areas:
            if a.level == "KELURAHAN":
                geom = simple[index[a.id]]
            elif a.kelurahan:
                geom = shapely.coverage_union_all([simple[index[k]] for k in a.kelurahan])
            else:
                geom = shapely.coverage_simplify(
                    shapely.set_precision(shapely.from_wkb(a.wkb), GRID), band.tolerance)
            mp = _multi(geom)
            rows.append({"area_id": a.id, "band": band.number, "wkb": shapely.to_wkb(mp),
                         "vertices": int(shapely.get_num_coordinates(mp))})
    return rows


async def rebuild(conn: AsyncConnection) -> int:
    """Recompute every area's band shapes, in the caller's transaction; returns the row count."""
    areas = (await conn.execute(READ)).all()
    rows = await asyncio.to_thread(shape_rows, areas)
    await conn.execute(text("DELETE FROM area_shapes"))
    if rows:
        await conn.execute(WRITE, rows)
    return len(rows)


async def geometries(conn: AsyncConnection,
                     keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Band shapes as RFC 7946 GeoJSON text, keyed by (area id, band)."""
    rows = await conn.execute(text(f"""
        SELECT s.area_id, s.band, ST_AsGeoJSON(ST_ForcePolygonCCW(s.geom), {PRECISION})
        FROM area_shapes s
        JOIN unnest(CAST(:ids AS integer[]), CAST(:bands AS smallint[])) AS k(id, band)
          ON s.area_id = k.id AND s.band = k.band"""),
        {"ids": [k[0] for k in keys], "bands": [k[1] for k in keys]})
    return {(r[0], r[1]): r[2] for r in rows.all()}
