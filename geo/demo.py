"""Plausible demo data: real boundaries, real OPDs, staff, targets and field activity.

Activity is not uniform noise: it clusters around kelurahan offices and a few dense
neighbourhoods per kelurahan, staff work mostly in their assigned kelurahan, on WIB working
days and hours; a few points fall outside the city, a few have poor GPS accuracy, a few come
from a mocked location. The same seed and the same end date give the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.assign import polygon_driven_hits
from geo.boundaries import import_areas
from geo.catalog import OPDS, ROOT_UNIT, SERVICES, offices
from geo.db import raw_connection
from geo.plausibility import evaluate

WIB = timezone(timedelta(hours=7), "WIB")
DATA_DIR = Path(__file__).parent / "data" / "surabaya"
BOUNDARY_FILES = [DATA_DIR / f for f in (
    "surabaya_kota.geojson", "surabaya_kecamatan_dissolved.geojson", "surabaya_kelurahan.geojson")]
DAYS = 90
CHUNK = 100_000
FIRST_NAMES = ["Agus", "Budi", "Citra", "Dewi", "Eko", "Fitri", "Gita", "Hadi", "Indah", "Joko",
               "Kartika", "Lestari", "Made", "Nur", "Oki", "Putri", "Rizky", "Sari", "Teguh",
               "Umi", "Wahyu", "Yuni", "Zainal", "Ahmad", "Siti", "Bambang", "Rina", "Dian"]
LAST_NAMES = ["Santoso", "Wibowo", "Rahmawati", "Prasetyo", "Setiawan", "Hidayat", "Kusuma",
              "Susanti", "Nugroho", "Purnomo", "Handayani", "Saputra", "Wulandari", "Firmansyah",
              "Maharani", "Suryadi", "Utomo", "Lestari", "Ramadhan", "Anggraini"]
NOTES = ["Warga meminta kunjungan ulang", "Dokumen diserahkan langsung", "Rumah tidak ditemukan",
         "Dilanjutkan ke puskesmas", "Koordinasi dengan RT/RW", None]


@dataclass(frozen=True)
class Kelurahan:
    id: int
    code: str
    kecamatan_code: str
    office: tuple[float, float]
    hotspots: list[tuple[float, float]]
    weight: float


@dataclass(frozen=True)
class StaffMember:
    id: uuid.UUID
    unit_code: str
    services: list[int]
    home: list[int]          # indices into the kelurahan list


def _uuid(rng: np.random.Generator) -> uuid.UUID:
    return uuid.UUID(bytes=rng.bytes(16), version=4)


def make_nip(rng: np.random.Generator, seq: int) -> str:
    """An 18-digit NIP: birth date, appointment month, gender, sequence."""
    birth = date(1966, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 34)))
    appointed = (birth.year + int(rng.integers(22, 34)), int(rng.integers(1, 13)))
    gender = int(rng.integers(1, 3))
    return f"{birth:%Y%m%d}{appointed[0]:04d}{appointed[1]:02d}{gender}{seq % 1000:03d}"


async def ensure_boundaries(conn: AsyncConnection) -> bool:
    """Import the shipped Surabaya boundaries when no kelurahan is stored. True if imported."""
    n = await conn.scalar(text("SELECT count(*) FROM areas WHERE level = 'KELURAHAN'"))
    await conn.commit()
    if n:
        return False
    await import_areas(conn, BOUNDARY_FILES)
    return True


async def _kelurahan(conn: AsyncConnection, rng: np.random.Generator) -> list[Kelurahan]:
    rows = (await conn.execute(text("""
        SELECT a.id, a.code, p.code AS kec, ST_AsBinary(a.geom) AS wkb,
               ST_X(a.label_point) AS x, ST_Y(a.label_point) AS y
        FROM areas a JOIN areas p ON p.id = a.parent_id
        WHERE a.level = 'KELURAHAN' ORDER BY a.code"""))).all()
    out = []
    for r in rows:
        poly = shapely.from_wkb(r.wkb)
        x0, y0, x1, y1 = poly.bounds
        spots: list[tuple[float, float]] = []
        while len(spots) < 3:
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if poly.contains(Point(x, y)):
                spots.append((float(x), float(y)))
        out.append(Kelurahan(r.id, r.code, r.kec, (r.x, r.y), spots, float(rng.lognormal(0, 0.6))))
    return out


async def _organisation(conn: AsyncConnection, kel: list[Kelurahan], rng: np.random.Generator,
                        n_staff: int, until: date) -> list[StaffMember]:
    """Units, categories, indicators, staff and assignments (idempotent upserts)."""
    kecs = sorted({k.kecamatan_code for k in kel})
    unit_rows: list[tuple[str, str, str, str | None]] = [(ROOT_UNIT[0], ROOT_UNIT[1], "OPD", None)]
    unit_rows += [(c, n, "OPD", ROOT_UNIT[0]) for c, n in OPDS]
    kec_names: Sequence[tuple[str, str]] = (await conn.execute(text(
        "SELECT code, name FROM areas WHERE level = 'KECAMATAN'"))).all()
    names = dict(kec_names)
    unit_rows += [(f"KEC-{c.replace('.', '')}", f"Kecamatan {names[c]}", "KECAMATAN", ROOT_UNIT[0])
                  for c in kecs]
    for code, name, kind, parent in unit_rows:
        await conn.execute(text("""
            INSERT INTO units (code, name, kind, parent_id)
            VALUES (:c, :n, :k, (SELECT id FROM units WHERE code = :p))
            ON CONFLICT (code) DO NOTHING"""), {"c": code, "n": name, "k": kind, "p": parent})
    for o in offices():     # an office an admin has placed is kept
        await conn.execute(text("""
            UPDATE units SET office = ST_SetSRID(ST_MakePoint(:x, :y), 4326)
            WHERE code = :c AND office IS NULL"""), {"c": o.unit, "x": o.lon, "y": o.lat})
    for s in SERVICES:
        await conn.execute(text("""
            INSERT INTO indicators (code, name, unit_id)
            VALUES (:c, :n, (SELECT id FROM units WHERE code = :u)) ON CONFLICT DO NOTHING"""),
            {"c": s.indicator, "n": s.indicator_name, "u": s.unit})
        await conn.execute(text("""
            INSERT INTO service_categories (code, name, unit_id)
            VALUES (:c, :n, (SELECT id FROM units WHERE code = :u)) ON CONFLICT DO NOTHING"""),
            {"c": s.category, "n": s.category_name, "u": s.unit})

    by_kec: dict[str, list[int]] = {}
    for i, k in enumerate(kel):
        by_kec.setdefault(k.kecamatan_code, []).append(i)
    opd_services = {u: [i for i, s in enumerate(SERVICES) if s.unit == u] for u, _ in OPDS}
    kel_service = [i for i, s in enumerate(SERVICES) if s.unit == ROOT_UNIT[0]]
    staff: list[StaffMember] = []
    staff_rows, assign_rows = [], []
    start = until - timedelta(days=DAYS + 30)
    for n in range(n_staff):
        kec = kecs[int(rng.integers(0, len(kecs)))]
        in_kec = by_kec[kec]
        if rng.random() < 0.3:      # kecamatan office staff: the kelurahan service, 1 kelurahan
            unit, services = f"KEC-{kec.replace('.', '')}", kel_service
            home = [in_kec[int(rng.integers(0, len(in_kec)))]]
        else:
            unit = OPDS[int(rng.integers(0, len(OPDS)))][0]
            services = opd_services[unit]
            n_home = min(len(in_kec), int(rng.integers(2, 5)))
            home = [int(i) for i in rng.choice(in_kec, size=n_home, replace=False)]
        member = StaffMember(_uuid(rng), unit, services, home)
        staff.append(member)
        name = f"{FIRST_NAMES[int(rng.integers(0, len(FIRST_NAMES)))]} " \
               f"{LAST_NAMES[int(rng.integers(0, len(LAST_NAMES)))]}"
        staff_rows.append({"id": member.id, "nip": make_nip(rng, n), "name": name, "u": unit})
        assign_rows += [{"s": member.id, "a": kel[h].id, "f": start} for h in home]
    await conn.execute(text("""
        INSERT INTO staff (id, nip, name, unit_id)
        VALUES (:id, :nip, :name, (SELECT id FROM units WHERE code = :u))
        ON CONFLICT DO NOTHING"""), staff_rows)
    await conn.execute(text("""
        INSERT INTO staff_assignments (staff_id, area_id, during)
        VALUES (:s, :a, daterange(:f, NULL)) ON CONFLICT DO NOTHING"""), assign_rows)
    return staff


def _working_days(until: date) -> tuple[np.ndarray, np.ndarray]:
    days = [until - timedelta(days=d) for d in range(DAYS)]
    weight = np.array([0.0 if d.weekday() == 6 else 0.3 if d.weekday() == 5 else 1.0 for d in days])
    starts = np.array([datetime(d.year, d.month, d.day, tzinfo=WIB).timestamp() for d in days])
    return starts, weight


def _padded(lists: list[list[int]]) -> np.ndarray:
    """Lists of unequal length as one integer array, padded with zeros on the right."""
    out = np.zeros((len(lists), max(len(v) for v in lists)), dtype=np.int64)
    for i, v in enumerate(lists):
        out[i, :len(v)] = v
    return out


def _uuid4_hex(random: bytes) -> list[str]:
    """Version-4 UUIDs as 32 hex digits, 16 random bytes each: what `uuid.UUID(bytes=...,
    version=4)` makes, at a tenth of the cost; COPY takes the text for a uuid column."""
    raw = np.frombuffer(random, dtype=np.uint8).reshape(-1, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40      # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80      # RFC 4122 variant
    digits = raw.tobytes().hex()
    return [digits[i:i + 32] for i in range(0, len(digits), 32)]


def _activity_chunks(n: int, kel: list[Kelurahan], staff: list[StaffMember],
                     rng: np.random.Generator, until: date,
                     received_by: float) -> Iterator[list[tuple]]:
    """Rows for `demo_staging`, CHUNK at a time; a chunk is array arithmetic, not a loop."""
    day_start, day_w = _working_days(until)
    staff_w = rng.lognormal(0, 0.5, len(staff))
    staff_w /= staff_w.sum()
    kel_w = np.array([k.weight for k in kel])
    kel_w /= kel_w.sum()
    met_factor = rng.uniform(0.8, 1.1, len(kel))
    m_per_deg_lat, m_per_deg_lon = 110_600.0, 110_400.0
    home, n_home = _padded([s.home for s in staff]), np.array([len(s.home) for s in staff])
    offered = _padded([s.services for s in staff])
    n_offered = np.array([len(s.services) for s in staff])
    spots = np.array([[k.office, *k.hotspots] for k in kel])       # (kelurahan, 4, lon/lat)
    met_rate = np.array([s.met_rate for s in SERVICES])
    citizens_mean = np.array([float(s.citizens) for s in SERVICES])
    # Device clocks drift by a few seconds, deterministically per row of a chunk.
    skew = ((np.arange(CHUNK) * 7919) % 61) - 30.0
    for offset in range(0, n, CHUNK):
        m = min(CHUNK, n - offset)
        who = rng.choice(len(staff), size=m, p=staff_w)
        u = rng.random((m, 8))
        ids = _uuid4_hex(rng.bytes(16 * m))
        day = rng.choice(len(day_start), size=m, p=day_w / day_w.sum())
        started = day_start[day] + (7.5 + 8.0 * u[:, 0]) * 3600
        duration = rng.uniform(10, 120, m) * 60
        offline = u[:, 1] < 0.05
        lag = np.where(offline, rng.uniform(3600, 3 * 86400, m), rng.uniform(5, 600, m))
        poor = u[:, 2] < 0.02
        acc = np.where(poor, rng.uniform(150, 1500, m), rng.lognormal(2.1, 0.5, m))
        noise = np.where(poor, acc / 2, rng.uniform(25, 100, m))
        dx = rng.normal(0, 1, m) * noise / m_per_deg_lon
        dy = rng.normal(0, 1, m) * noise / m_per_deg_lat
        roam = rng.choice(len(kel), size=m, p=kel_w)
        spot = rng.integers(0, 4, m)
        svc_pick, met_u = u[:, 3], u[:, 4]
        outside = u[:, 5] < 0.005
        mock = u[:, 6] < 0.003
        note_pick = (u[:, 7] * 30).astype(np.int64)

        # Mostly in one of the staff member's kelurahan, at its office or a busy spot.
        at_home = home[who, (svc_pick * 997).astype(np.int64) % n_home[who]]
        k_idx = np.where(u[:, 1] >= 0.04, at_home, roam)
        xy = spots[k_idx, spot]
        # A few in the Madura strait or just across the southern border.
        strait = np.where((spot % 2 == 1)[:, None], [112.80, -7.15], [112.72, -7.375])
        xy = np.where(outside[:, None], strait, xy)
        svc = offered[who, (svc_pick * n_offered[who]).astype(np.int64)]
        met = met_u < met_rate[svc] * met_factor[k_idx]
        end = started + duration
        citizens = np.maximum(0, np.rint(citizens_mean[svc] * (0.3 + 1.4 * u[:, 7])))
        category = [SERVICES[v].category for v in svc.tolist()]
        yield list(zip(
            ids, [staff[w].id for w in who.tolist()], category, started.tolist(), end.tolist(),
            (end + skew[:m]).tolist(), np.minimum(end + lag, received_by).tolist(),
            (xy[:, 0] + dx).tolist(), (xy[:, 1] + dy).tolist(),
            [round(a, 1) for a in acc.tolist()], mock.tolist(), citizens.astype(np.int64).tolist(),
            [SERVICES[v].indicator for v in svc.tolist()], met.tolist(),
            [NOTES[p] if p < len(NOTES) else None for p in note_pick.tolist()],
            strict=True))


STAGING = """
    CREATE TEMP TABLE demo_staging (
        id uuid, staff_id uuid, category_code text, started double precision,
        ended double precision, device double precision, received double precision,
        lon double precision, lat double precision, accuracy_m double precision,
        mock_location boolean,
        citizens_served integer, outcome_code text, outcome_met boolean, note text
    ) ON COMMIT DROP
"""
STAGING_COLUMNS = ["id", "staff_id", "category_code", "started", "ended", "device", "received",
                   "lon", "lat", "accuracy_m", "mock_location", "citizens_served", "outcome_code",
                   "outcome_met", "note"]


# Each staff member's day laid out as a day is lived: the visits drawn for it, in the order drawn,
# one after another from 07:30 WIB with 20 minutes to get from one to the next, squeezed to end
# by 16:00. Drawn independently, visits kilometres apart would overlap (migration 0009 flags
# that: UNREACHABLE). Clocks and receipt keep their offsets from the visit's end.
LAY_OUT_DAYS = """
    UPDATE demo_staging s
    SET started = n.start, ended = n.start + n.dur * n.f,
        device = n.start + n.dur * n.f + (s.device - s.ended),
        received = least(n.start + n.dur * n.f + (s.received - s.ended), :received_by)
    FROM (
        SELECT d.id, d.dur,
               d.day0 + 27000 + (d.before + (d.k - 1) * 1200) * d.f AS start, d.f
        FROM (
            SELECT x.id, x.dur, x.day0, x.k,
                   least(1.0, 30600 / (x.total + (x.n - 1) * 1200)) AS f,
                   coalesce(sum(x.dur) OVER (PARTITION BY x.staff_id, x.day0 ORDER BY x.k
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
            FROM (
                SELECT id, staff_id, ended - started AS dur,
                       floor((started + 25200) / 86400) * 86400 - 25200 AS day0,
                       row_number() OVER w AS k, count(*) OVER v AS n,
                       sum(ended - started) OVER v AS total
                FROM demo_staging
                WINDOW v AS (PARTITION BY staff_id, floor((started + 25200) / 86400)),
                       w AS (PARTITION BY staff_id, floor((started + 25200) / 86400)
                             ORDER BY started, id)
            ) x
        ) d
    ) n
    WHERE s.id = n.id
"""


# (drop, restore) for each index of `activities` that backs no constraint, and each of its
# foreign keys: the names and definitions come from the catalog, never from input. The catalog
# writes a partitioned table's index `ON ONLY` (the parent alone): restored without it, it is
# built on every partition.
DEFERRABLE = text("""
    SELECT format('DROP INDEX %s', x.indexrelid::regclass),
           replace(pg_get_indexdef(x.indexrelid), ' ON ONLY ', ' ON ')
    FROM pg_index x
    WHERE x.indrelid = 'activities'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
    UNION ALL
    SELECT format('ALTER TABLE activities DROP CONSTRAINT %I', conname),
           format('ALTER TABLE activities ADD CONSTRAINT %I %s', conname,
                  pg_get_constraintdef(oid))
    FROM pg_constraint WHERE conrelid = 'activities'::regclass AND contype = 'f'""")


async def _defer_indexes_and_foreign_keys(conn: AsyncConnection) -> list[str]:
    """Drop what a big load is slowest to keep up row by row; return how to restore it.

    As pg_restore does: an index built once over a million rows, and a foreign key checked by
    one join, cost a fraction of their upkeep per row (bench/README.md: about 3x on the insert).
    It all happens in the caller's transaction, which holds the table meanwhile: other sessions
    never see the table without them, and a failure rolls the drop back with the rest.
    """
    rows: Sequence[tuple[str, str]] = (await conn.execute(DEFERRABLE)).all()
    for drop, _ in rows:
        await conn.execute(text(drop))
    return [restore for _, restore in rows]


async def bulk_insert_staged(conn: AsyncConnection) -> int:
    """Move `demo_staging` into activities, with kelurahan assigned in one polygon-driven join.

    When the batch is at least as big as the table, its plain indexes and foreign keys are
    restored after the insert instead of kept up during it.
    """
    await conn.execute(text("""
        CREATE TEMP TABLE demo_points ON COMMIT DROP AS
        SELECT id, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom FROM demo_staging"""))
    await conn.execute(text("CREATE INDEX ON demo_points USING gist (geom)"))
    await conn.execute(text("ANALYZE demo_points"))
    await conn.execute(text(f"""
        CREATE TEMP TABLE demo_hits ON COMMIT DROP AS
        {polygon_driven_hits('demo_points')}"""))
    counts: tuple[int, int] = (await conn.execute(text(
        "SELECT (SELECT count(*) FROM demo_staging), (SELECT count(*) FROM activities)"))).one()
    staged, stored = counts
    restore = await _defer_indexes_and_foreign_keys(conn) if staged >= stored else []
    # Every staged month gets its partition rather than the default one.
    await conn.execute(text("""
        SELECT activities_partitions_ensure(to_timestamp(min(started)), to_timestamp(max(started)))
        FROM demo_staging HAVING count(*) > 0"""))
    # Bulk writers assign kelurahan, claim ids and rebuild rollups in one pass each, not row by
    # row. A known id is skipped (a re-run inserts nothing).
    await conn.execute(text("SET LOCAL jangkau.area_preassigned = 'on'"))
    await conn.execute(text("SET LOCAL jangkau.ids_preclaimed = 'on'"))
    await conn.execute(text("SET LOCAL jangkau.rollups_deferred = 'on'"))
    result = await conn.execute(text("""
        WITH claimed AS (
            INSERT INTO activity_ids (id, started_at)
            SELECT id, to_timestamp(started) FROM demo_staging
            ON CONFLICT (id) DO NOTHING RETURNING id
        )
        INSERT INTO activities (id, staff_id, category_code, started_at, ended_at, device_time,
            received_at, geom, accuracy_m, mock_location, citizens_served, outcome_code,
            outcome_met, note, area_id, outside_kelurahan)
        SELECT s.id, s.staff_id, s.category_code, to_timestamp(s.started), to_timestamp(s.ended),
            to_timestamp(s.device), to_timestamp(s.received), p.geom, s.accuracy_m,
            s.mock_location, s.citizens_served, s.outcome_code, s.outcome_met, s.note,
            h.area_id, h.area_id IS NULL
        FROM demo_staging s JOIN claimed c USING (id) JOIN demo_points p USING (id)
        LEFT JOIN demo_hits h USING (id)"""))
    await conn.execute(text("SET LOCAL jangkau.area_preassigned = 'off'"))
    await conn.execute(text("SET LOCAL jangkau.ids_preclaimed = 'off'"))
    for statement in restore:
        await conn.execute(text(statement))
    # Plausibility flags in one pass over every activity, with the (staff, time) index back.
    await evaluate(conn, None)
    await conn.execute(text("SET LOCAL jangkau.rollups_deferred = 'off'"))
    await conn.execute(text("SELECT rollups_rebuild()"))
    return result.rowcount


async def _targets(conn: AsyncConnection, until: date) -> None:
    """Monthly targets per kelurahan and indicator: what each kelurahan achieved, give or take."""
    first = (until - timedelta(days=DAYS)).replace(day=1)
    await conn.execute(text("""
        INSERT INTO targets (indicator_code, area_id, period, target_value)
        SELECT a.outcome_code, a.area_id, daterange(m, (m + interval '1 month')::date),
               greatest(1, round(count(*) FILTER (WHERE a.outcome_met)
                   * (0.8 + 0.45 * abs(hashtext(a.area_id || a.outcome_code || m)) / 2147483647.0)))
        FROM activities a,
             LATERAL (SELECT date_trunc('month', a.started_at AT TIME ZONE 'Asia/Jakarta')::date
                      AS m) mm
        WHERE a.area_id IS NOT NULL AND a.outcome_code IS NOT NULL AND a.started_at >= :first
        GROUP BY a.outcome_code, a.area_id, m
        ON CONFLICT DO NOTHING"""), {"first": datetime(first.year, first.month, 1, tzinfo=WIB)})


async def load_demo(
    conn: AsyncConnection,
    activities: int,
    seed: int = 42,
    until: date | None = None,
    staff: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Load boundaries if missing, the organisation, targets and `activities` rows.

    `until` is the last day of activity (WIB), yesterday by default so that every row lies in
    the past. Rows depend on `seed` and `until` only: receipt times are capped at the end of
    that day, not at the clock. Returns the number of activities inserted (0 on a re-run).
    """
    until = until or datetime.now(WIB).date() - timedelta(days=1)
    rng = np.random.default_rng(seed)
    await ensure_boundaries(conn)
    kel = await _kelurahan(conn, rng)
    n_staff = staff or int(min(2000, max(40, activities // 250)))
    members = await _organisation(conn, kel, rng, n_staff, until)
    await conn.commit()
    raw = await raw_connection(conn)
    await conn.execute(text(STAGING))
    received_by = datetime(until.year, until.month, until.day, tzinfo=WIB).timestamp() + 86400
    for rows in _activity_chunks(activities, kel, members, rng, until, received_by):
        await raw.copy_records_to_table("demo_staging", records=rows, columns=STAGING_COLUMNS)
        if progress:
            progress(len(rows))
    await conn.execute(text(LAY_OUT_DAYS), {"received_by": received_by})
    inserted = await bulk_insert_staged(conn)
    await conn.commit()
    await _targets(conn, until)
    await conn.execute(text("ANALYZE activities"))
    await conn.commit()
    return inserted
