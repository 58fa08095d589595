"""The rollups give exactly the base table's answers, and stay exact through every kind of write."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.coverage import attainment, coverage
from geo.db import create_engine
from geo.demo import load_demo
from geo.errors import JangkauError
from geo.filters import ActivityFilter
from geo.periods import Period
from geo.record import NewActivity, record

UNTIL = date(2026, 10, 31)


@pytest.fixture
async def demo(bare_db_url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(bare_db_url, pool_size=1)
    async with engine.connect() as conn:
        await load_demo(conn, 4000, seed=3, until=UNTIL)
        yield conn
    await engine.dispose()


def _periods(rng: random.Random, n: int) -> list[Period]:
    out = [Period(UNTIL - timedelta(days=89), UNTIL), Period(UNTIL, UNTIL)]
    for _ in range(n):
        start = UNTIL - timedelta(days=rng.randint(0, 95))
        out.append(Period(start, start + timedelta(days=rng.randint(0, 40))))
    return out


async def _agree(conn: AsyncConnection, rng: random.Random) -> int:
    """Compare both paths on random periods, levels and filters; returns the rows compared."""
    categories = (await conn.execute(text("SELECT code FROM service_categories"))).scalars().all()
    kecamatan = (await conn.execute(text(
        "SELECT code FROM areas WHERE level = 'KECAMATAN'"))).scalars().all()
    compared = 0
    for period in _periods(rng, 6):
        for level in ("KELURAHAN", "KECAMATAN", "CITY"):
            for f in (None, ActivityFilter(category=rng.choice(categories)),
                      ActivityFilter(area_code=rng.choice(kecamatan))):
                fast = await coverage(conn, level, period, f)
                slow = await coverage(conn, level, period, f, rollups=False)
                assert fast == slow, (level, period, f)
                assert (await attainment(conn, level, period, f)
                        == await attainment(conn, level, period, f, rollups=False))
                compared += len(fast)
    return compared


async def test_rollups_equal_the_base_table(demo: AsyncConnection) -> None:
    total = await demo.scalar(text("SELECT sum(activities) FROM rollup_area_day"))
    counted = await demo.scalar(text(
        "SELECT count(*) FROM activities WHERE review IN ('NONE', 'ACCEPTED')"))
    assert total == counted > 0
    assert await _agree(demo, random.Random(1)) > 1000


async def test_rollups_follow_reviews_moves_and_deletes(demo: AsyncConnection) -> None:
    # Reviews flip what counts, a re-assignment moves rows, deletes remove them.
    await demo.execute(text("""
        UPDATE activities SET review = 'ACCEPTED'
        WHERE id IN (SELECT id FROM activities WHERE review = 'PENDING' ORDER BY id LIMIT 40)"""))
    await demo.execute(text("""
        UPDATE activities SET review = 'REJECTED'
        WHERE id IN (SELECT id FROM activities WHERE review = 'PENDING'
                     ORDER BY id DESC LIMIT 40)"""))
    await demo.execute(text("""
        UPDATE activities SET area_id = (SELECT min(id) FROM areas WHERE level = 'KELURAHAN'),
            outside_kelurahan = false
        WHERE id IN (SELECT id FROM activities WHERE area_id IS NOT NULL ORDER BY id LIMIT 25)"""))
    await demo.execute(text("""
        UPDATE activities SET outcome_met = NOT outcome_met, citizens_served = citizens_served + 1
        WHERE id IN (SELECT id FROM activities ORDER BY md5(id::text) LIMIT 30)"""))
    await demo.execute(text(
        "DELETE FROM activities WHERE id IN (SELECT id FROM activities ORDER BY id LIMIT 30)"))
    await demo.commit()
    assert await _agree(demo, random.Random(2)) > 1000

    # And a rebuild from scratch finds nothing to change.
    before = await _snapshot(demo)
    await demo.execute(text("SELECT rollups_rebuild()"))
    assert await _snapshot(demo) == before


async def _snapshot(conn: AsyncConnection) -> tuple[object, object]:
    days = (await conn.execute(text("""
        SELECT day, area_id, category_code, outcome_code, activities, met, citizens, last_at
        FROM rollup_area_day ORDER BY 1, 2, 3, 4"""))).all()
    presence = (await conn.execute(text("""
        SELECT staff_id, area_id, category_code, days::text FROM rollup_presence
        ORDER BY 1, 2, 3"""))).all()
    return days, presence


async def test_recorded_batches_are_rolled_up_once_judged(demo: AsyncConnection) -> None:
    """The API's path (geo.record): new rows join the rollups after their judgement, flagged or
    not, while neighbours their arrival flags are taken out; a batch the database refuses in
    part takes the per-item path, where the INSERT trigger counts. Rollups stay exact."""
    await demo.execute(text("ALTER TABLE activities ADD CONSTRAINT refuse_note "
                            "CHECK (note IS DISTINCT FROM 'refuse')"))
    await demo.commit()
    rows = (await demo.execute(text("""
        SELECT staff_id, category_code, outcome_code, started_at, ST_X(geom), ST_Y(geom)
        FROM activities WHERE review = 'NONE' AND area_id IS NOT NULL
        ORDER BY md5(id::text) LIMIT 60"""))).all()
    rng = random.Random(4)

    def new(staff: uuid.UUID, category: str, outcome: str | None, at: datetime, lon: float,
            lat: float, note: str | None = None) -> NewActivity:
        return NewActivity(uuid.uuid4(), staff, category, at, None, None, lon, lat, 10.0, False,
                           rng.randint(0, 5), outcome, rng.random() < 0.5, note)

    # A leap of 20 km two minutes after a counted record flags both ends: the neighbour is
    # taken out of the rollups, its keys recounted, while a record 20 minutes before it, in
    # place (the same keys), is new in the same batch. Others arrive an hour later, in place.
    leaps = [new(s, c, o, t + timedelta(minutes=m), x + dx, y)
             for s, c, o, t, x, y in rows[:30] for m, dx in ((2, 0.2), (-20, 0.0))]
    calm = [new(s, c, o, t + timedelta(hours=1), x, y) for s, c, o, t, x, y in rows[30:]]
    refused = [new(s, c, o, t + timedelta(hours=2), x, y, note="refuse")
               for s, c, o, t, x, y in rows[:5]]
    for batch in (leaps[:30], calm[:15] + leaps[30:], calm[15:] + refused):
        items: list[NewActivity | JangkauError] = list(batch)
        done = await record(demo, items, [str(i.id) for i in batch])
        assert {d.status for d in done} <= {"CREATED", "REJECTED"}
    flagged = await demo.scalar(text("""
        SELECT count(*) FROM activities
        WHERE id = ANY(:ids) AND 'IMPOSSIBLE_SPEED' = ANY(flags)"""),
        {"ids": [i.id for i in leaps[::2]]})
    neighbours = await demo.scalar(text("""
        SELECT count(*) FROM activities a JOIN unnest(CAST(:s AS uuid[]), CAST(:t AS timestamptz[]))
            AS o(staff, at) ON a.staff_id = o.staff AND a.started_at = o.at
        WHERE a.review = 'PENDING'"""),
        {"s": [r[0] for r in rows[:30]], "t": [r[3] for r in rows[:30]]})
    assert flagged == 30 and neighbours >= 25
    assert await demo.scalar(text("SELECT count(*) FROM activities WHERE note = 'refuse'")) == 0
    assert await _agree(demo, random.Random(3)) > 1000
    before = await _snapshot(demo)
    await demo.execute(text("SELECT rollups_rebuild()"))
    assert await _snapshot(demo) == before
