"""Migration 0011 on a database with rows: the figures are those of the unpartitioned table, and
the online copy loses and doubles nothing while writers keep recording, reviewing and deleting."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo import migrate
from geo.choropleth import coverage_map
from geo.coverage import attainment, coverage
from geo.db import create_engine
from geo.demo import load_demo
from geo.filters import ActivityFilter
from geo.periods import Period
from geo.plausibility import resolve
from geo.record import NewActivity, record
from geo.series import series
from geo.shapes import BANDS
from geo.team import team

UNTIL = date(2026, 10, 31)
PERIODS = (Period(date(2026, 8, 1), UNTIL), Period(date(2026, 9, 28), date(2026, 10, 3)),
           Period(UNTIL, UNTIL))
# Everything the figures are made of, in a stable order.
CONTENT = {
    "activities": "SELECT md5(string_agg(a::text, '|' ORDER BY a.id)) FROM activities a",
    "rollup_area_day": "SELECT md5(string_agg(r::text, '|' ORDER BY r::text)) "
                       "FROM rollup_area_day r",
    "rollup_presence": "SELECT md5(string_agg(r::text, '|' ORDER BY r::text)) "
                       "FROM rollup_presence r",
    "flag_reviews": "SELECT md5(string_agg(r::text, '|' ORDER BY r.id)) FROM flag_reviews r",
}
PARTITIONS = text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'activities'::regclass")


@pytest.fixture
async def demo(bare_db_url: str) -> AsyncIterator[AsyncEngine]:
    """A few thousand demo activities over three months, some of them reviewed."""
    engine = create_engine(bare_db_url, pool_size=6)
    async with engine.connect() as conn:
        await load_demo(conn, 3000, seed=5, until=UNTIL)
        flagged = (await conn.execute(text(
            "SELECT id FROM activities WHERE review = 'PENDING' ORDER BY id LIMIT 6"))).scalars()
        for n, activity_id in enumerate(list(flagged)):
            await resolve(conn, activity_id, ("ACCEPTED", "REJECTED")[n % 2], "checked", "tester")
    yield engine
    await engine.dispose()


async def _figures(conn: AsyncConnection) -> dict[str, Any]:
    out: dict[str, Any] = {k: await conn.scalar(text(sql)) for k, sql in CONTENT.items()}
    units = list((await conn.execute(text("SELECT id FROM units"))).scalars())
    category = ActivityFilter(category=await conn.scalar(text(
        "SELECT min(category_code) FROM activities")))
    for period in PERIODS:
        for level in ("KELURAHAN", "KECAMATAN", "CITY"):
            for f in (None, category):
                for rollups in (True, False):
                    key = f"{level} {period} {f} {rollups}"
                    out["coverage " + key] = await coverage(conn, level, period, f,
                                                            rollups=rollups)
                    out["attainment " + key] = await attainment(conn, level, period, f,
                                                                rollups=rollups)
            out[f"series {level} {period}"] = await series(conn, level, period, "WEEK", None)
        out[f"map {period}"] = await coverage_map(conn, "KELURAHAN", period, None, BANDS[0])
        out[f"team {period}"] = await team(conn, units, period)
    await conn.rollback()
    return out


async def test_figures_are_the_same_partitioned_and_not(demo: AsyncEngine,
                                                        bare_db_url: str) -> None:
    async with demo.connect() as conn:
        partitioned = await _figures(conn)
        assert await conn.scalar(PARTITIONS) >= 4    # August to October, and the default
        await conn.rollback()
    await demo.dispose()
    await asyncio.to_thread(migrate.downgrade, bare_db_url, "0010")
    async with demo.connect() as conn:
        assert await conn.scalar(text(
            "SELECT relkind::text FROM pg_class WHERE oid = 'activities'::regclass")) == "r"
        plain = await _figures(conn)
    await demo.dispose()
    await asyncio.to_thread(migrate.upgrade, bare_db_url)
    async with demo.connect() as conn:
        assert await conn.scalar(PARTITIONS) >= 4
        again = await _figures(conn)
    assert plain["activities"] is not None and plain["flag_reviews"] is not None
    assert partitioned == plain == again


def _item(staff: uuid.UUID, category: str, at: datetime, rng: random.Random) -> NewActivity:
    return NewActivity(
        id=uuid.uuid4(), staff_id=staff, category=category, started_at=at, ended_at=None,
        device_time=None, lon=112.70 + rng.random() * 0.08, lat=-7.33 + rng.random() * 0.08,
        accuracy_m=8.0, mock_location=False, citizens_served=rng.randint(0, 9), outcome=None,
        outcome_met=rng.random() < 0.5, note=None)


class Writers:
    """Recording, reviewing and deleting through the service's own functions until told to stop;
    what each wrote, and how much of it went in while the copy was under way."""

    def __init__(self, engine: AsyncEngine, staff: list[uuid.UUID], category: str) -> None:
        self.engine, self.staff, self.category = engine, staff, category
        self.recorded: list[uuid.UUID] = []
        self.deleted: list[uuid.UUID] = []
        self.reviewed: list[uuid.UUID] = []
        self.during_copy = 0
        self.stop = asyncio.Event()

    async def _copying(self, conn: AsyncConnection) -> bool:
        busy = await conn.scalar(text("SELECT to_regclass('activities_next') IS NOT NULL"))
        await conn.rollback()
        return bool(busy)

    async def record(self, n: int) -> None:
        rng = random.Random(n)
        start = datetime(2026, 8, 1, tzinfo=UTC)
        async with self.engine.connect() as conn:
            while not self.stop.is_set():
                copying = await self._copying(conn)
                # Spread over four months, one of them (November) with no rows before.
                batch = [_item(self.staff[n], self.category,
                               start + timedelta(minutes=rng.randint(0, 120 * 24 * 60)), rng)
                         for _ in range(8)]
                answers = await record(conn, list(batch), [str(b.id) for b in batch])
                assert {a.status for a in answers} == {"CREATED"}, answers
                self.recorded += [b.id for b in batch]
                self.during_copy += copying
                await asyncio.sleep(0.02)

    async def review_and_delete(self) -> None:
        async with self.engine.connect() as conn:
            while not self.stop.is_set():
                copying = await self._copying(conn)
                found = (await conn.execute(text("""
                    SELECT id FROM activities WHERE review = 'PENDING' AND NOT id = ANY(:done)
                    ORDER BY id LIMIT 1"""), {"done": self.reviewed})).scalar()
                if found is not None:
                    await resolve(conn, found, "ACCEPTED", "seen", "tester")
                    self.reviewed.append(found)
                gone = (await conn.execute(text("""
                    DELETE FROM activities WHERE id = (
                        SELECT id FROM activities WHERE review = 'NONE' AND NOT id = ANY(:rec)
                        ORDER BY id DESC LIMIT 1) RETURNING id"""),
                    {"rec": self.recorded})).scalar()
                await conn.commit()
                if gone is not None:
                    self.deleted.append(gone)
                self.during_copy += copying
                await asyncio.sleep(0.05)


async def _rollups_exact(conn: AsyncConnection) -> bool:
    """The stored rollups equal those rebuilt from the base table (rebuilt, then rolled back)."""
    stored = [await conn.scalar(text(CONTENT[k])) for k in ("rollup_area_day", "rollup_presence")]
    await conn.execute(text("SELECT rollups_rebuild()"))
    rebuilt = [await conn.scalar(text(CONTENT[k])) for k in ("rollup_area_day", "rollup_presence")]
    await conn.rollback()
    return stored == rebuilt and None not in stored


async def test_online_migration_loses_and_doubles_nothing(demo: AsyncEngine,
                                                          bare_db_url: str) -> None:
    await demo.dispose()
    await asyncio.to_thread(migrate.downgrade, bare_db_url, "0010")
    async with demo.connect() as conn:
        before = (await conn.execute(text(
            "SELECT id, flags, review, flag_notes FROM activities ORDER BY id"))).all()
        reviews_before = await conn.scalar(text(CONTENT["flag_reviews"]))
        staff = list((await conn.execute(text(
            "SELECT staff_id FROM activities GROUP BY 1 ORDER BY count(*) LIMIT 3"))).scalars())
        category = await conn.scalar(text("SELECT min(category_code) FROM activities"))
        await conn.rollback()

    writers = Writers(demo, staff, category)
    tasks = [asyncio.create_task(writers.record(n)) for n in range(3)]
    tasks.append(asyncio.create_task(writers.review_and_delete()))
    await asyncio.sleep(0.3)
    # 3,000 rows in batches of 100, a pause between: the copy takes a few seconds of writes.
    await asyncio.to_thread(migrate.upgrade, bare_db_url, copy_rows=100, copy_pause_s=0.1)
    await asyncio.sleep(0.3)
    writers.stop.set()
    await asyncio.gather(*tasks)

    assert writers.during_copy >= 5, "the writers never overlapped the copy"
    async with demo.connect() as conn:
        assert await conn.scalar(PARTITIONS) >= 5             # August to November, default
        ids = (await conn.execute(text(
            "SELECT count(*), count(DISTINCT id) FROM activities"))).one()
        kept = {r[0] for r in before} - set(writers.deleted)
        expected = kept | set(writers.recorded)
        stored = set((await conn.execute(text("SELECT id FROM activities"))).scalars())
        assert stored == expected
        assert tuple(ids) == (len(expected), len(expected))
        assert await conn.scalar(text("SELECT count(*) FROM activity_ids")) == len(expected)
        assert await conn.scalar(text(
            "SELECT count(*) FROM activities a JOIN activity_ids i USING (id, started_at)")) \
            == len(expected)
        assert await _rollups_exact(conn)
        # Flags: every row the writers' staff never touched is judged as before; reviews made
        # during the copy are all there, still pointing at their activities.
        after = {r[0]: tuple(r[1:]) for r in await conn.execute(text(
            "SELECT id, flags, review, flag_notes FROM activities WHERE staff_id <> ALL(:s)"),
            {"s": staff})}
        assert after and all(after[r[0]] == tuple(r[1:]) for r in before
                             if r[0] in after and r[0] not in writers.reviewed)
        reviews = (await conn.execute(text("""
            SELECT count(*), count(*) FILTER (WHERE a.id IS NOT NULL)
            FROM flag_reviews f LEFT JOIN activities a ON a.id = f.activity_id"""))).one()
        assert reviews_before is not None and reviews[0] == reviews[1] >= 6 + len(writers.reviewed)
        assert await conn.scalar(text("SELECT convalidated FROM pg_constraint "
                                      "WHERE conname = 'flag_reviews_activity_id_fkey'"))
