"""Reading areas: batched by key for DataLoaders, GeoJSON written by PostGIS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.errors import NotFound

# RFC 7946 output: exterior rings counter-clockwise, 6 decimals (~0.11 m at the equator).
PRECISION = 6
GRID = 10.0 ** -PRECISION  # degrees: the grid that PRECISION decimals write

COLUMNS = f"""a.id, a.code, a.name, a.level, a.parent_id, a.area_m2,
    ST_AsGeoJSON(a.label_point, {PRECISION}) AS label_geojson"""


@dataclass(frozen=True)
class AreaRow:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    area_m2: float
    label_geojson: str


def _rows(result: Sequence[tuple[Any, ...]]) -> list[AreaRow]:
    return [AreaRow(*r) for r in result]


async def by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, AreaRow]:
    rows = await conn.execute(text(f"SELECT {COLUMNS} FROM areas a WHERE a.id = ANY(:ids)"),
                              {"ids": list(ids)})
    return {r.id: r for r in _rows(rows.all())}


async def by_codes(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, AreaRow]:
    rows = await conn.execute(text(f"SELECT {COLUMNS} FROM areas a WHERE a.code = ANY(:c)"),
                              {"c": list(codes)})
    return {r.code: r for r in _rows(rows.all())}


async def children(conn: AsyncConnection, parent_ids: Sequence[int]) -> dict[int, list[AreaRow]]:
    rows = await conn.execute(text(
        f"SELECT {COLUMNS} FROM areas a WHERE a.parent_id = ANY(:ids) ORDER BY a.code"),
        {"ids": list(parent_ids)})
    out: dict[int, list[AreaRow]] = {i: [] for i in parent_ids}
    for r in _rows(rows.all()):
        assert r.parent_id is not None
        out[r.parent_id].append(r)
    return out


async def list_areas(
    conn: AsyncConnection,
    level: str | None = None,
    parent_code: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[AreaRow]:
    where: list[str] = ["TRUE"]
    params: dict[str, object] = {}
    if level is not None:
        where.append("a.level = :level")
        params["level"] = level
    if parent_code is not None:
        pid = await conn.scalar(text("SELECT id FROM areas WHERE code = :c"), {"c": parent_code})
        if pid is None:
            raise NotFound(f"unknown parent area code {parent_code!r:.60}")
        where.append("a.parent_id = :pid")
        params["pid"] = pid
    if bbox is not None:
        where.append("ST_Intersects(a.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))")
        params.update(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    rows = await conn.execute(text(
        f"SELECT {COLUMNS} FROM areas a WHERE {' AND '.join(where)} ORDER BY a.code"), params)
    return _rows(rows.all())


async def geometries(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, str]:
    """Full-resolution boundaries as RFC 7946 GeoJSON text, keyed by area id.

    Snapped to the output grid first: rounding alone collapses a few tiny holes into rings
    with no area or the wrong orientation."""
    rows = await conn.execute(text(f"""
        SELECT id, ST_AsGeoJSON(ST_Multi(ST_ForcePolygonCCW(ST_ReducePrecision(geom, {GRID}))),
                                {PRECISION})
        FROM areas WHERE id = ANY(:ids)"""), {"ids": list(ids)})
    return dict(rows.all())



async def within(conn: AsyncConnection, scope: Sequence[str]) -> dict[str, str]:
    """Every area inside the areas `scope` (themselves included), by code: the code of the
    first of `scope` (by code) that contains it. Unknown codes contain nothing."""
    rows: Sequence[tuple[str, str]] = (await conn.execute(text("""
        SELECT DISTINCT ON (d.code) d.code, a.code FROM area_closure c
        JOIN areas a ON a.id = c.ancestor_id JOIN areas d ON d.id = c.descendant_id
        WHERE a.code = ANY(:scope) ORDER BY d.code, a.code"""), {"scope": sorted(scope)})).all()
    return dict(rows)
