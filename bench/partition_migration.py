"""`python -m bench.partition_migration --activities N --database NAME`: migration 0011 online.

(Re)creates NAME on the server of DATABASE_URL (the private cluster's by default), loads N demo
activities at head, migrates down to 0010 (one table, offline), then runs the online upgrade
while one task reads every 10 ms and another records 20 activities every 50 ms through
`geo.record`. Prints the upgrade's time, the slowest read and write meanwhile, and checks that
every id is stored once. Drops NAME at the end unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.database import recreate, server_url, with_database
from geo import migrate
from geo.db import create_engine
from geo.demo import load_demo
from geo.record import NewActivity, record

UNTIL = date(2026, 11, 30)


@dataclass
class Worst:
    """The slowest call of each kind while the migration ran, and how many there were."""

    seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "write": 0.0})
    calls: dict[str, int] = field(default_factory=lambda: {"read": 0, "write": 0})

    def add(self, kind: str, seconds: float) -> None:
        self.seconds[kind] = max(self.seconds[kind], seconds)
        self.calls[kind] += 1


async def _reader(engine: AsyncEngine, stop: asyncio.Event, worst: Worst) -> None:
    async with engine.connect() as conn:
        while not stop.is_set():
            t0 = time.perf_counter()
            await conn.execute(text(
                "SELECT count(*) FROM activities WHERE started_at >= '2026-11-20 00:00+07'"))
            await conn.rollback()
            worst.add("read", time.perf_counter() - t0)
            await asyncio.sleep(0.01)


async def _writer(engine: AsyncEngine, stop: asyncio.Event, worst: Worst) -> None:
    rng = random.Random(1)
    async with engine.connect() as conn:
        staff = await conn.scalar(text("SELECT id FROM staff ORDER BY id LIMIT 1"))
        await conn.rollback()
        while not stop.is_set():
            items = [NewActivity(
                id=uuid.uuid4(), staff_id=staff, category="POSYANDU",
                started_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(
                    minutes=rng.randint(0, 40_000)),
                ended_at=None, device_time=None, lon=112.72, lat=-7.28, accuracy_m=5.0,
                mock_location=False, citizens_served=1, outcome=None, outcome_met=True, note=None)
                for _ in range(20)]
            t0 = time.perf_counter()
            answers = await record(conn, list(items), [str(i.id) for i in items])
            worst.add("write", time.perf_counter() - t0)
            assert {a.status for a in answers} == {"CREATED"}
            await asyncio.sleep(0.05)


async def main(activities: int, database: str, copy_rows: int, keep: bool) -> None:
    admin = with_database(server_url(), "postgres")
    url = with_database(admin, database)
    await recreate(admin, database)
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url, pool_size=4, statement_timeout_ms=0)
    t0 = time.perf_counter()
    async with engine.connect() as c:
        await load_demo(c, activities, seed=1, until=UNTIL)
    print(f"demo load of {activities:,} at head: {time.perf_counter() - t0:.1f} s")
    await engine.dispose()
    t0 = time.perf_counter()
    await asyncio.to_thread(migrate.downgrade, url, "0010")
    print(f"downgrade to 0010 (offline, one transaction): {time.perf_counter() - t0:.1f} s")

    stop, worst = asyncio.Event(), Worst()
    tasks = [asyncio.create_task(_reader(engine, stop, worst)),
             asyncio.create_task(_writer(engine, stop, worst))]
    await asyncio.sleep(1)
    t0 = time.perf_counter()
    await asyncio.to_thread(migrate.upgrade, url, copy_rows=copy_rows)
    took = time.perf_counter() - t0
    stop.set()
    await asyncio.gather(*tasks)
    print(f"online upgrade to 0011 (copy in {copy_rows:,}-row batches, swap, drop): {took:.1f} s")
    print(f"meanwhile: {worst.calls['read']} reads, slowest {worst.seconds['read'] * 1000:.0f} ms;"
          f" {worst.calls['write']} record() calls of 20, slowest "
          f"{worst.seconds['write'] * 1000:.0f} ms")
    async with engine.connect() as c:
        rows, ids, claimed = (await c.execute(text(
            "SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM activity_ids) "
            "FROM activities"))).one()
    await engine.dispose()
    print(f"afterwards: {rows:,} rows, {ids:,} distinct ids, {claimed:,} in activity_ids")
    assert rows == ids == claimed
    if not keep:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.partition_migration", description=__doc__)
    p.add_argument("--activities", type=int, default=300_000)
    p.add_argument("--database", required=True, help="database to (re)create: dropped first!")
    p.add_argument("--copy-rows", type=int, default=2_000)
    p.add_argument("--keep", action="store_true", help="leave the database for a look")
    a = p.parse_args()
    asyncio.run(main(a.activities, a.database, a.copy_rows, a.keep))
