"""The demo loader: the same seed gives the same rows, a re-run adds nothing, and the activity
looks like field work rather than noise."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.catalog import OFFICES_FILE, offices
from geo.db import connect, raw_connection
from geo.demo import STAGING, STAGING_COLUMNS, bulk_insert_staged, load_demo
from tests import dbs
from tests.seed import ACTIVITIES, S1

UNTIL = date(2026, 10, 31)
N = 3000

# What the loader writes, each table in a fixed order and by codes, never by serial ids.
FINGERPRINT = text("""
    SELECT
      (SELECT md5(string_agg(concat_ws('|', a.id, a.staff_id, a.category_code, a.started_at,
                  a.ended_at, a.device_time, a.received_at, ST_AsEWKB(a.geom), a.accuracy_m,
                  a.mock_location, a.citizens_served, a.outcome_code, a.outcome_met, a.note,
                  x.code, a.outside_kelurahan), ',' ORDER BY a.id))
       FROM activities a LEFT JOIN areas x ON x.id = a.area_id) AS activities,
      (SELECT md5(string_agg(concat_ws('|', s.id, s.nip, s.name, u.code, s.active), ','
                  ORDER BY s.id))
       FROM staff s JOIN units u ON u.id = s.unit_id) AS staff,
      (SELECT md5(string_agg(concat_ws('|', sa.staff_id, x.code, sa.during), ','
                  ORDER BY sa.staff_id, x.code))
       FROM staff_assignments sa JOIN areas x ON x.id = sa.area_id) AS assignments,
      (SELECT md5(string_agg(concat_ws('|', t.indicator_code, x.code, t.period, t.target_value), ','
                  ORDER BY t.indicator_code, x.code, t.period))
       FROM targets t JOIN areas x ON x.id = t.area_id) AS targets
""")


async def load(url: str, seed: int) -> tuple[int, dict[str, str]]:
    async with connect(url) as conn:
        inserted = await load_demo(conn, N, seed=seed, until=UNTIL)
        row = (await conn.execute(FINGERPRINT)).one()
    return inserted, dict(row._mapping)


@pytest.fixture
async def bare_db_urls(admin: str, bare_template: str) -> AsyncIterator[list[str]]:
    """Three fresh databases with the real boundaries and nothing else."""
    names = [f"{dbs.PREFIX}demo_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    try:
        yield [await dbs.create(admin, name, bare_template) for name in names]
    finally:
        for name in names:
            await dbs.drop(admin, name)


async def test_same_seed_same_rows_and_a_rerun_adds_nothing(bare_db_urls: list[str]) -> None:
    first, second, other = bare_db_urls
    inserted, rows = await load(first, seed=7)
    assert inserted == N
    assert all(rows.values())

    assert await load(second, seed=7) == (N, rows)

    _, other_rows = await load(other, seed=8)
    assert all(other_rows[table] != rows[table] for table in rows)

    assert await load(first, seed=7) == (0, rows)


async def activity_schema(conn: AsyncConnection) -> set[str]:
    """The indexes and constraints of `activities`: the bulk load defers some, and must put
    every one back."""
    rows = await conn.execute(text("""
        SELECT indexdef FROM pg_indexes WHERE tablename = 'activities'
        UNION ALL
        SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'activities'::regclass"""))
    found = {r[0] for r in rows}
    await conn.commit()
    return found


@pytest.fixture
async def demo(bare_db_url: str) -> AsyncIterator[AsyncConnection]:
    async with connect(bare_db_url) as conn:
        schema = await activity_schema(conn)
        assert await load_demo(conn, N, seed=7, until=UNTIL) == N
        assert await activity_schema(conn) == schema
        yield conn


async def test_bulk_load_still_enforces_foreign_keys(conn: AsyncConnection) -> None:
    schema = await activity_schema(conn)
    await conn.execute(text(STAGING))
    t0 = 1_790_000_000.0
    # As many rows as the table holds, so that the keys are checked once, after the insert;
    # one of them by a staff member who does not exist.
    rows = [(uuid.uuid4(), S1 if n else uuid.uuid4(), "POSYANDU", t0, t0 + 600, t0 + 600,
             t0 + 700, 112.7, -7.3, 8.0, False, 1, "BALITA", True, None)
            for n in range(len(ACTIVITIES))]
    raw = await raw_connection(conn)
    await raw.copy_records_to_table("demo_staging", records=rows, columns=STAGING_COLUMNS)
    with pytest.raises(IntegrityError, match=r"foreign key constraint \"\w*staff_id_fkey\""):
        await bulk_insert_staged(conn)
    await conn.rollback()
    assert await activity_schema(conn) == schema
    assert await conn.scalar(text("SELECT count(*) FROM activities")) == len(ACTIVITIES)


async def share(conn: AsyncConnection, condition: str) -> float:
    value: float = await conn.scalar(text(f"""
        SELECT avg(({condition})::int) FROM activities a
        CROSS JOIN LATERAL (SELECT (a.started_at AT TIME ZONE 'Asia/Jakarta') AS wib) t"""))
    return value


async def test_demo_activity_is_plausible(demo: AsyncConnection) -> None:
    at_home = await share(demo, """EXISTS (
        SELECT 1 FROM staff_assignments s WHERE s.staff_id = a.staff_id
        AND s.area_id = a.area_id AND s.during @> t.wib::date)""")
    assert at_home > 0.7
    city = "(SELECT geom FROM areas WHERE level = 'CITY')"
    assert 0 < await share(demo, f"NOT ST_Covers({city}, a.geom)") < 0.05
    assert 0 < await share(demo, "a.outside_kelurahan") < 0.05
    assert 0 < await share(demo, "a.accuracy_m > 100") < 0.05
    assert 0 < await share(demo, "a.mock_location") < 0.05
    assert await share(demo, "t.wib::time BETWEEN '07:00' AND '16:00'") == 1
    assert await share(demo, "extract(isodow FROM t.wib) = 7") == 0
    until = f"DATE '{UNTIL}'"
    assert await share(demo, f"t.wib::date BETWEEN {until} - 89 AND {until}") == 1
    # Received after the work ended, never after the end of the last day: no row in the future.
    assert await share(demo, f"""a.started_at < a.ended_at AND a.ended_at <= a.received_at
        AND a.received_at <= ({until} + 1)::timestamp AT TIME ZONE 'Asia/Jakarta'""") == 1


async def test_demo_activity_is_clustered_and_targets_are_monthly(demo: AsyncConnection) -> None:
    # Half the activity inside the city falls in under 15% of its 250 m cells (uniform noise
    # would need about half of them): it gathers around offices and neighbourhoods.
    cells_for_half, city_cells = (await demo.execute(text("""
        WITH cells AS (
            SELECT count(*) AS c FROM activities WHERE NOT outside_kelurahan
            GROUP BY ST_SnapToGrid(ST_Transform(geom, 32749), 250)),
        ranked AS (SELECT c, sum(c) OVER (ORDER BY c DESC ROWS UNBOUNDED PRECEDING) AS upto
                   FROM cells)
        SELECT count(*) FILTER (WHERE upto - c < (SELECT sum(c) FROM cells) / 2.0),
               (SELECT area_m2 / 250^2 FROM areas WHERE level = 'CITY')
        FROM ranked"""))).one()
    assert cells_for_half < 0.15 * city_cells

    targets = (await demo.execute(text("""
        SELECT count(*), count(*) FILTER (WHERE extract(day FROM lower(period)) = 1
                 AND upper(period) = (lower(period) + interval '1 month')::date),
               count(DISTINCT area_id), count(DISTINCT indicator_code)
        FROM targets"""))).one()
    total, monthly, areas, indicators = targets
    assert total == monthly > 0
    assert areas > 100 and indicators >= 5


async def test_demo_places_every_units_office_as_its_data_says(demo: AsyncConnection) -> None:
    placed = dict((await demo.execute(text(
        "SELECT code, ST_AsText(office) FROM units ORDER BY code"))).all())
    listed = {o.unit: o for o in offices()}
    assert set(placed) == set(listed) and None not in placed.values()
    assert {o.basis for o in listed.values()} <= {"source", "stand-in"}
    # A kecamatan's stand-in is a point inside the kecamatan itself.
    outside = await demo.scalar(text("""
        SELECT count(*) FROM units u JOIN areas a
          ON a.code = regexp_replace(substr(u.code, 5), '^(..)(..)(..)$', '\\1.\\2.\\3')
        WHERE u.kind = 'KECAMATAN' AND NOT ST_Covers(a.geom, u.office)"""))
    kecamatan = sum(1 for c in listed if c.startswith("KEC-"))
    assert (kecamatan, outside) == (31, 0)
    assert "unit_offices.csv" in (OFFICES_FILE.parent / "SOURCE.md").read_text()
