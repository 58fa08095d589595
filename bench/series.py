"""Trends and exports on a loaded demo database: coverageSeries against a day-by-day loop of
`coverage` (what a client did before, with 30 aliases), and the export of a year of days.

    DATABASE_URL=postgresql://.../jangkau_bench .venv/bin/python -m bench.series

It reads only; load the database first (e.g. `python -m bench`, or `jangkau demo load
--activities 1000000 --seed 42 --until 2026-11-27`). Figures are medians of --repeat runs of the
data-layer functions the API calls, on one connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from geo import coverage, series
from geo.db import connect
from geo.filters import ActivityFilter
from geo.periods import Period
from graph.export_formats import csv_chunks
from graph.export_tables import TABLES, ExportQuery

NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 27))
QUARTER = Period(date(2026, 8, 30), date(2026, 11, 27))
YEAR = Period(date(2026, 1, 1), date(2026, 12, 31))
DINKES = ActivityFilter(unit_code="DINKES")


async def _median(work: Callable[[], Awaitable[object]], repeat: int) -> float:
    await work()    # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await work()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def main(url: str, repeat: int) -> None:
    async with connect(url) as conn:
        async def days_one_by_one() -> None:
            for i in range(NOVEMBER.days):
                d = NOVEMBER.start + timedelta(days=i)
                await coverage.coverage(conn, "KELURAHAN", Period(d, d), None)

        async def export_year() -> int:
            q = ExportQuery("KELURAHAN", YEAR, None, min_staff=0, bucket="DAY")
            table = TABLES["series"]
            return sum([len(c) async for c in csv_chunks([c.id for c in table.columns(q)],
                                                         table.rows(conn, q))])

        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("coverage KELURAHAN, 1-27 Nov (one period)",
             lambda: coverage.coverage(conn, "KELURAHAN", NOVEMBER, None)),
            ("coverage KELURAHAN, each day of 1-27 Nov in turn (27 queries)", days_one_by_one),
            ("coverageSeries KELURAHAN DAY, 1-27 Nov (one query)",
             lambda: series.series(conn, "KELURAHAN", NOVEMBER, "DAY", None)),
            ("coverageSeries KECAMATAN WEEK, 30 Aug-27 Nov",
             lambda: series.series(conn, "KECAMATAN", QUARTER, "WEEK", None)),
            ("coverageSeries KELURAHAN DAY, 1-27 Nov, unitCode DINKES (base table)",
             lambda: series.series(conn, "KELURAHAN", NOVEMBER, "DAY", DINKES)),
            ("export series.csv KELURAHAN DAY, 2026 (55,845 rows)", export_year),
        ]
        for name, work in cases:
            print(f"{name}: {await _median(work, repeat) * 1000:,.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(os.environ["DATABASE_URL"], args.repeat))
