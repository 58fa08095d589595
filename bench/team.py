"""`python -m bench.team DATABASE_URL`: the team view's query on a loaded demo database.

Times a page of 50 and the whole team of PEMKOT (every demo staff member) over the 30 days
ending 2026-11-27, against the base-table coverage of the same activities (CITY, unitCode
PEMKOT), and checks that both count the same activities. Load the database first, e.g.
`DATABASE_URL=... jangkau db upgrade && jangkau demo load --activities 500000 --seed 42
--until 2026-11-27`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from geo.coverage import coverage
from geo.db import create_engine
from geo.filters import ActivityFilter, resolve
from geo.periods import Period
from geo.team import team

T = TypeVar("T")
PERIOD = Period(date(2026, 10, 29), date(2026, 11, 27))


async def timed(label: str, work: Callable[[], Awaitable[T]], reps: int) -> T:
    times, result = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - t0)
    print(f"{label}: median {statistics.median(times) * 1000:.0f} ms over {reps}")
    assert result is not None
    return result


async def main(url: str, reps: int) -> None:
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as conn:
        units = list((await resolve(conn, ActivityFilter(unit_code="PEMKOT"))).units or ())
        await timed("team PEMKOT, first 50", lambda: team(conn, units, PERIOD, first=50), reps)
        whole = await timed("team PEMKOT, all", lambda: team(conn, units, PERIOD), reps)
        f = ActivityFilter(unit_code="PEMKOT")
        city = await timed("coverage CITY unitCode PEMKOT", lambda: coverage(
            conn, "CITY", PERIOD, f, rollups=False), reps)
    await engine.dispose()
    counted = sum(r.activities for r in whole.rows)
    print(f"{whole.total} members, {counted} activities; coverage: {city[0].activities}")
    assert counted == city[0].activities


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.team", description=__doc__)
    p.add_argument("url", help="a database loaded with the demo")
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    asyncio.run(main(a.url, a.reps))
