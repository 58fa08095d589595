"""The city the evaluation set is drawn on: kelurahan shapes and who neighbours whom, read from
the database's real boundaries, with the demo's units, staff and assignments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.demo import StaffMember, _kelurahan, _organisation, ensure_boundaries

# Metres per degree at Surabaya's latitude (7.3° S).
M_LON, M_LAT = 110_400.0, 110_600.0


@dataclass(frozen=True)
class Kel:
    code: str
    kecamatan: str
    shape: BaseGeometry
    office: tuple[float, float]


@dataclass(frozen=True)
class World:
    kel: list[Kel]
    neighbours: list[list[int]]      # kelurahan sharing a border (or an overlap) with each
    staff: list[StaffMember]         # `home`: indices into `kel`, their assigned kelurahan


def neighbours_of(shapes: list[BaseGeometry]) -> list[list[int]]:
    tree = STRtree(shapes)
    out: list[list[int]] = []
    for i, s in enumerate(shapes):
        near = tree.query(s, predicate="dwithin", distance=20 / M_LON)
        out.append(sorted(int(j) for j in near if j != i))
    return out


async def build(conn: AsyncConnection, seed: int, n_staff: int, until: date) -> World:
    """Boundaries (when missing), the demo's organisation with `n_staff` staff, and the shapes."""
    rng = np.random.default_rng(seed)
    await ensure_boundaries(conn)
    kel = await _kelurahan(conn, rng)
    staff = await _organisation(conn, kel, rng, n_staff, until)
    await conn.commit()
    rows = (await conn.execute(text(
        "SELECT code, ST_AsBinary(geom) FROM areas WHERE level = 'KELURAHAN' ORDER BY code"))).all()
    shapes = {code: shapely.from_wkb(wkb) for code, wkb in rows}
    for s in shapes.values():
        shapely.prepare(s)
    kels = [Kel(k.code, k.kecamatan_code, shapes[k.code], k.office) for k in kel]
    return World(kels, neighbours_of([k.shape for k in kels]), staff)
