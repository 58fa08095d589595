"""The kelurahan an activity falls in, as the database assigns it, against shapely on the shipped
polygons: on random points in and around the city, and where neighbouring kelurahan overlap.

Three paths must agree: the row trigger (single writes), the bulk insert of the demo loader, and
`reassign_activities` (after boundaries change)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import cache

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.assign import reassign_activities
from geo.db import raw_connection
from geo.demo import STAGING, STAGING_COLUMNS, bulk_insert_staged
from tests.seed import K1, K3, OUTSIDE, S1, aid, inside, kelurahan_shapes

Point = tuple[float, float]
Places = dict[uuid.UUID, str | None]


@cache
def _tree() -> tuple[list[str], shapely.STRtree]:
    codes = sorted(kelurahan_shapes())
    return codes, shapely.STRtree([kelurahan_shapes()[c] for c in codes])


def shapely_answer(points: list[Point]) -> list[str | None]:
    """The lowest code among the kelurahan that cover each point; None outside them all."""
    codes, tree = _tree()
    point_idx, poly_idx = tree.query(shapely.points(points), predicate="covered_by")
    best: dict[int, str] = {}
    for p, k in zip(point_idx.tolist(), poly_idx.tolist(), strict=True):
        best[p] = min(best.get(p, codes[k]), codes[k])
    return [best.get(i) for i in range(len(points))]


def overlap_points(n: int) -> list[tuple[Point, list[str]]]:
    """A point well inside each of the `n` largest overlaps of two kelurahan, with the codes of
    every kelurahan that covers it."""
    shapes = kelurahan_shapes()
    codes, tree = _tree()
    overlaps = []
    for i, code in enumerate(codes):
        for j in tree.query(shapes[code], predicate="intersects").tolist():
            if j > i:
                parts = shapely.get_parts(shapes[code].intersection(shapes[codes[j]]))
                polygons = [p for p in parts if p.geom_type == "Polygon"]
                if polygons:
                    overlaps.append(max(polygons, key=lambda p: p.area))
    out = []
    for piece in sorted(overlaps, key=lambda p: -p.area)[:n]:
        p = piece.buffer(-2e-6).representative_point()     # ~20 cm inside the overlap
        covering = [codes[k] for k in tree.query(p, predicate="covered_by").tolist()]
        out.append(((p.x, p.y), sorted(covering)))
    return out


def ids(prefix: int, n: int) -> list[uuid.UUID]:
    return [uuid.UUID(f"00000000-0000-4000-{prefix:04x}-{i:012d}") for i in range(n)]


async def places(conn: AsyncConnection, wanted: list[uuid.UUID]) -> Places:
    rows = (await conn.execute(text("""
        SELECT a.id, x.code, a.outside_kelurahan FROM activities a
        LEFT JOIN areas x ON x.id = a.area_id WHERE a.id = ANY(:ids)"""), {"ids": wanted})).all()
    for _, code, outside in rows:
        assert outside == (code is None)
    return {r[0]: r[1] for r in rows}


INSERT = text("""
    INSERT INTO activities (id, staff_id, category_code, started_at, geom, citizens_served,
                            outcome_met)
    SELECT t.id, :staff, 'POSYANDU', '2026-10-05T09:00+07',
           ST_SetSRID(ST_MakePoint(t.x, t.y), 4326), 1, true
    FROM unnest(CAST(:ids AS uuid[]), CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS t(id, x, y)
""")


async def by_trigger_in_one_statement(conn: AsyncConnection, keys: list[uuid.UUID],
                                      points: list[Point]) -> None:
    await conn.execute(INSERT, {"staff": S1, "ids": keys, "xs": [p[0] for p in points],
                                "ys": [p[1] for p in points]})


async def by_trigger_one_by_one(conn: AsyncConnection, keys: list[uuid.UUID],
                                points: list[Point]) -> None:
    for key, point in zip(keys, points, strict=True):
        await by_trigger_in_one_statement(conn, [key], [point])


async def by_bulk_insert(conn: AsyncConnection, keys: list[uuid.UUID], points: list[Point]) -> None:
    """The demo loader's path: COPY into its staging table, then one polygon-driven join."""
    await conn.execute(text(STAGING))
    t0 = 1_790_000_000.0
    rows = [(key, S1, "POSYANDU", t0, t0 + 600, t0 + 600, t0 + 700, x, y, 8.0, False, 1,
             "BALITA", True, None) for key, (x, y) in zip(keys, points, strict=True)]
    raw = await raw_connection(conn)
    await raw.copy_records_to_table("demo_staging", records=rows, columns=STAGING_COLUMNS)
    assert await bulk_insert_staged(conn) == len(keys)
    await conn.commit()


async def by_reassignment(conn: AsyncConnection, keys: list[uuid.UUID],
                          points: list[Point]) -> None:
    """Rows whose stored kelurahan is wrong (the city itself) are all put right."""
    await by_trigger_in_one_statement(conn, keys, points)
    await conn.execute(text("""
        UPDATE activities SET outside_kelurahan = false,
            area_id = (SELECT id FROM areas WHERE level = 'CITY') WHERE id = ANY(:ids)"""),
        {"ids": keys})
    assert await reassign_activities(conn) == len(keys)


Path = Callable[[AsyncConnection, list[uuid.UUID], list[Point]], Awaitable[None]]
PATHS: dict[str, Path] = {
    "trigger": by_trigger_in_one_statement,
    "bulk insert": by_bulk_insert,
    "reassign": by_reassignment,
}


@pytest.mark.parametrize("path", PATHS)
async def test_random_points_agree_with_shapely(conn: AsyncConnection, path: str) -> None:
    rng = np.random.default_rng(2026)
    x0, y0, x1, y1 = shapely.union_all(list(kelurahan_shapes().values())).bounds
    dx, dy = (x1 - x0) * 0.1, (y1 - y0) * 0.1
    n = 3000
    points = list(zip(rng.uniform(x0 - dx, x1 + dx, n).tolist(),
                      rng.uniform(y0 - dy, y1 + dy, n).tolist(), strict=True))
    expected = shapely_answer(points)
    assert sum(e is None for e in expected) > 300             # plenty outside, plenty inside
    assert len({e for e in expected if e}) > 140

    keys = ids(0xC000, n)
    await PATHS[path](conn, keys, points)

    got = await places(conn, keys)
    wrong = [(points[i], got[k], expected[i]) for i, k in enumerate(keys) if got[k] != expected[i]]
    assert wrong == []


TIE_BREAK_PATHS: dict[str, Path] = {"single inserts": by_trigger_one_by_one, **PATHS}


@pytest.mark.parametrize("path", TIE_BREAK_PATHS)
async def test_overlaps_go_to_the_lowest_code(conn: AsyncConnection, path: str) -> None:
    found = overlap_points(12)
    assert all(len(covering) >= 2 for _, covering in found)
    points = [p for p, _ in found]
    keys = ids(0xD000, len(points))

    # Rows arrive in reverse order of code: the answer must not depend on that.
    await TIE_BREAK_PATHS[path](conn, keys[::-1], points[::-1])

    got = await places(conn, keys)
    assert got == {k: covering[0] for k, (_, covering) in zip(keys, found, strict=True)}
    assert [covering[0] for _, covering in found] == shapely_answer(points)


async def test_moving_an_activity_reassigns_it(conn: AsyncConnection) -> None:
    key = aid(2)      # seeded in K1
    move = text(
        "UPDATE activities SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) WHERE id = :id")
    assert await places(conn, [key]) == {key: K1}

    x, y = inside(K3)
    await conn.execute(move, {"id": key, "x": x, "y": y})
    assert await places(conn, [key]) == {key: K3}

    await conn.execute(move, {"id": key, "x": OUTSIDE[0], "y": OUTSIDE[1]})
    assert await places(conn, [key]) == {key: None}
