"""A small hand-made seed whose every figure is known: see the expected numbers below.

Three staff, two categories, three kelurahan in two kecamatan, eight activities (one outside
the city, one a minute before October in WIB), and two October targets.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from functools import cache

import shapely
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.demo import DATA_DIR

WIB = timezone(timedelta(hours=7))
K1, K2, K3 = "35.78.01.1001", "35.78.01.1002", "35.78.02.1001"
KEC1, KEC2 = "35.78.01", "35.78.02"
S1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
S2 = uuid.UUID("00000000-0000-4000-8000-000000000002")
S3 = uuid.UUID("00000000-0000-4000-8000-000000000003")
NIPS = {S1: "198503122010011001", S2: "199001012015032002", S3: "197712312005011003"}
OUTSIDE = (112.80, -7.15)   # the Madura strait


def aid(n: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-a000-{n:012d}")


@cache
def kelurahan_shapes() -> dict[str, shapely.Geometry]:
    doc = json.loads((DATA_DIR / "surabaya_kelurahan.geojson").read_text())
    return {f["properties"]["kode"]: shape(f["geometry"]) for f in doc["features"]}


@cache
def inside(code: str) -> tuple[float, float]:
    """A point deep inside kelurahan `code`, away from every neighbour's overlap."""
    shapes = kelurahan_shapes()
    own = shapes[code]
    others = shapely.union_all([g for c, g in shapes.items() if c != code and g.intersects(own)])
    p = own.difference(others.buffer(0.001)).representative_point()
    return round(p.x, 6), round(p.y, 6)


# (id, staff, category, WIB start, place, citizens, outcome, met)
ACTIVITIES = [
    (aid(1), S1, "POSYANDU", datetime(2026, 10, 1, 0, 30, tzinfo=WIB), K1, 10, "BALITA", True),
    (aid(2), S1, "POSYANDU", datetime(2026, 10, 5, 9, 0, tzinfo=WIB), K1, 5, "BALITA", True),
    (aid(3), S2, "POSYANDU", datetime(2026, 10, 6, 10, 0, tzinfo=WIB), K1, 3, "BALITA", False),
    (aid(4), S2, "POSYANDU", datetime(2026, 10, 7, 10, 0, tzinfo=WIB), K2, 7, "BALITA", True),
    (aid(5), S3, "LAYANAN", datetime(2026, 10, 8, 11, 0, tzinfo=WIB), K2, 2, "ADUAN", True),
    (aid(6), S3, "LAYANAN", datetime(2026, 10, 9, 11, 0, tzinfo=WIB), K3, 4, "ADUAN", False),
    (aid(7), S1, "POSYANDU", datetime(2026, 10, 10, 8, 0, tzinfo=WIB), None, 1, "BALITA", True),
    (aid(8), S2, "POSYANDU", datetime(2026, 9, 30, 23, 59, tzinfo=WIB), K1, 6, "BALITA", True),
]

# October 2026 (WIB): activities, distinct staff, citizens, outcomes met
OCTOBER = {
    K1: (3, 2, 18, 2), K2: (2, 2, 9, 2), K3: (1, 1, 4, 0),
    KEC1: (5, 3, 27, 4), KEC2: (1, 1, 4, 0), "35.78": (7, 3, 32, 5),
}
TARGETS = [("BALITA", K1, "2026-10-01", "2026-11-01", 4.0),
           ("ADUAN", K2, "2026-10-01", "2026-11-01", 2.0)]


def location(place: str | None) -> tuple[float, float]:
    return OUTSIDE if place is None else inside(place)


async def seed(conn: AsyncConnection) -> None:
    await conn.execute(text("""
        INSERT INTO units (code, name, kind, parent_id)
        VALUES ('PEMKOT', 'Pemerintah Kota Surabaya', 'OPD', NULL);
        """))
    await conn.execute(text("""
        INSERT INTO units (code, name, kind, parent_id)
        SELECT c, n, k, (SELECT id FROM units WHERE code = 'PEMKOT')
        FROM (VALUES ('DINKES', 'Dinas Kesehatan', 'OPD'),
                     ('KEC-357801', 'Kecamatan Karang Pilang', 'KECAMATAN'))
        AS v(c, n, k)"""))
    await conn.execute(text("""
        INSERT INTO service_categories (code, name, unit_id) VALUES
          ('POSYANDU', 'Pendampingan posyandu', (SELECT id FROM units WHERE code = 'DINKES')),
          ('LAYANAN', 'Pelayanan kelurahan', (SELECT id FROM units WHERE code = 'KEC-357801'))"""))
    await conn.execute(text("""
        INSERT INTO indicators (code, name, unit_id) VALUES
          ('BALITA', 'Balita ditimbang', (SELECT id FROM units WHERE code = 'DINKES')),
          ('ADUAN', 'Aduan selesai', (SELECT id FROM units WHERE code = 'KEC-357801'))"""))
    for sid, unit, name in [(S1, "DINKES", "Sri Wahyuni"), (S2, "DINKES", "Budi Santoso"),
                            (S3, "KEC-357801", "Agus Salim")]:
        await conn.execute(text("""
            INSERT INTO staff (id, nip, name, unit_id)
            VALUES (:id, :nip, :name, (SELECT id FROM units WHERE code = :u))"""),
            {"id": sid, "nip": NIPS[sid], "name": name, "u": unit})
    for sid, code in [(S1, K1), (S2, K1), (S2, K2), (S3, K2)]:
        await conn.execute(text("""
            INSERT INTO staff_assignments (staff_id, area_id, during)
            VALUES (:s, (SELECT id FROM areas WHERE code = :c), daterange('2026-01-01', NULL))"""),
            {"s": sid, "c": code})
    for ind, code, d0, d1, value in TARGETS:
        await conn.execute(text("""
            INSERT INTO targets (indicator_code, area_id, period, target_value)
            VALUES (:i, (SELECT id FROM areas WHERE code = :c),
                    daterange(CAST(:d0 AS date), CAST(:d1 AS date)), :v)"""),
            {"i": ind, "c": code, "d0": datetime.fromisoformat(d0).date(),
             "d1": datetime.fromisoformat(d1).date(), "v": value})
    for id_, sid, cat, start, place, citizens, outcome, met in ACTIVITIES:
        lon, lat = location(place)
        await conn.execute(text("""
            INSERT INTO activities (id, staff_id, category_code, started_at, ended_at, geom,
                accuracy_m, citizens_served, outcome_code, outcome_met)
            VALUES (:id, :s, :c, :t0, :t1, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 8,
                    :n, :o, :m)"""),
            {"id": id_, "s": sid, "c": cat, "t0": start, "t1": start + timedelta(minutes=45),
             "lon": lon, "lat": lat, "n": citizens, "o": outcome, "m": met})
    await conn.commit()
