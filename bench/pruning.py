"""`python -m bench.pruning --database jangkau_scale_10000000`: what partition pruning saves.

In a database `bench.scale --keep` left loaded, builds a copy of `activities` of the other kind
(schema `part`: partitioned by WIB month when the loaded table is plain, plain when it is
partitioned, with the btree indexes the queries use), then runs the same SQL texts against both
tables through `search_path`: a month's
coverage from the base table (bench/sql.py COVERAGE: what a query the rollups cannot serve
costs) and a page of a period's newest activities. For each: the partitions the plan touches
(EXPLAIN ANALYZE: those pruned at plan time are absent, those pruned at run time say "never
executed"), and p50/p95 of both, alternating, answers compared first. JSON to
bench/results/pruning-<database>.json. `--drop-copy` removes schema `part` afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench import database, sql
from bench.config import RESULTS_DIR
from bench.context import compare, same
from bench.report import NO_GOAL, Row, table
from bench.scale import ScaleOptions
from geo.db import server_settings
from geo.periods import WIB

PAGE = 100
SCANNED = re.compile(r"on (activities_p\d{4}_\d{2})")


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _instant(day: date) -> datetime:
    return datetime.combine(day, clock(0), WIB)


async def build(conn: asyncpg.Connection) -> dict[str, Any]:
    """The copy of the other kind: partitioned (a partition per WIB month holding rows) when
    `public.activities` is plain, plain when it is partitioned; then the indexes."""
    public_partitioned = await conn.fetchval(sql.PUBLIC_PARTITIONED)
    await conn.execute(sql.PART_TABLE + ("" if public_partitioned
                                         else " PARTITION BY RANGE (started_at)"))
    names = []
    if not public_partitioned:
        first, last = await conn.fetchrow(sql.PART_MONTHS)
        month = first
        while month <= last:
            name = f"activities_p{month:%Y_%m}"
            lo, hi = _instant(month).isoformat(), _instant(_next_month(month)).isoformat()
            await conn.execute(
                f"CREATE TABLE {sql.PART_SCHEMA}.{name} PARTITION OF "
                f"{sql.PART_SCHEMA}.activities FOR VALUES FROM ('{lo}') TO ('{hi}')")
            names.append(name)
            month = _next_month(month)
    t0 = time.perf_counter()
    await conn.execute(sql.PART_COPY)
    t1 = time.perf_counter()
    for statement in sql.PART_INDEXES:
        await conn.execute(statement)
    return {"public_partitioned": public_partitioned, "partitions": names,
            "copy_seconds": round(t1 - t0, 1), "index_seconds": round(time.perf_counter() - t1, 1)}


async def plan(conn: asyncpg.Connection, query: str, *args: Any) -> dict[str, Any]:
    lines = [r[0] for r in await conn.fetch(
        f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {query}", *args)]
    scanned = sorted({m for line in lines if "never executed" not in line
                      for m in SCANNED.findall(line)})
    return {"scanned": scanned, "plan": lines}


async def measure(opts: ScaleOptions, flat: asyncpg.Connection, part: asyncpg.Connection,
                  month: date) -> tuple[list[Row], dict[str, Any]]:
    t0, t1 = _instant(month), _instant(_next_month(month))
    cases = [
        ("month_coverage", f"coverage of {month:%Y-%m} from the base table (no rollups)",
         sql.COVERAGE, (t0, t1)),
        ("period_page", f"activities of {month:%Y-%m}, newest {PAGE}, with location and staff",
         sql.ACTIVITIES_PERIOD_PAGE, (PAGE, t0, t1)),
    ]
    rows, plans = [], {}
    for key, title, query, args in cases:
        print(f"[pruning] {key} …", flush=True)
        row = Row(key, f"{title}: partitioned", "unpartitioned, same rows and SQL", "ms",
                  NO_GOAL)

        async def ours(q: str = query, a: tuple[Any, ...] = args) -> list[Any]:
            return [tuple(r) for r in await part.fetch(q, *a)]

        async def theirs(q: str = query, a: tuple[Any, ...] = args) -> list[Any]:
            return [tuple(r) for r in await flat.fetch(q, *a)]

        def check(j: list[Any], r: list[Any], k: str = key) -> None:
            same(k, j, r)

        rows.append(row.measured(*await compare(opts, ours, theirs, check)))
        plans[key] = {"partitioned": await plan(part, query, *args),
                      "unpartitioned": await plan(flat, query, *args)}
        row.note = ("partitions scanned: "
                    + (", ".join(plans[key]["partitioned"]["scanned"]) or "none"))
    return rows, plans


async def run(opts: ScaleOptions, month: date, drop_copy: bool) -> dict[str, Any]:
    url = database.with_database(database.server_url(), opts.database)
    public = await asyncpg.connect(url, server_settings=server_settings(0))
    copy = await asyncpg.connect(url, server_settings={**server_settings(0),
                                                       "search_path": f"{sql.PART_SCHEMA}, public"})
    try:
        activities = await public.fetchval(sql.COUNT)
        print(f"[pruning] copying {activities:,} activities into a table of the other kind …",
              flush=True)
        built = await build(public)
        flat, part = (copy, public) if built["public_partitioned"] else (public, copy)
        rows, plans = await measure(opts, flat, part, month)
        if drop_copy:
            await public.execute(f"DROP SCHEMA {sql.PART_SCHEMA} CASCADE")
    finally:
        await public.close()
        await copy.close()
    print(table(rows))
    return {"meta": {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                     "command": opts.command, "activities": activities,
                     "database": opts.database, "month": f"{month:%Y-%m}"},
            "copy": built, "rows": [r.as_json() for r in rows], "plans": plans}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m bench.pruning", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", required=True, help="a database bench.scale --keep loaded")
    p.add_argument("--month", default="2026-10", help="the WIB month asked (YYYY-MM)")
    p.add_argument("--drop-copy", action="store_true", help="drop the partitioned copy after")
    p.add_argument("--quick", action="store_true", help="3 repetitions (for the test)")
    p.add_argument("--reps", type=int, default=None, help="exactly N repetitions a side")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    a = p.parse_args(args)
    month = date.fromisoformat(f"{a.month}-01")
    opts = ScaleOptions(database=a.database, readme=None, quick=a.quick, reps=a.reps,
                        command=shlex.join(["python", "-m", "bench.pruning", *args]))
    doc = asyncio.run(run(opts, month, a.drop_copy))
    a.results_dir.mkdir(parents=True, exist_ok=True)
    path = a.results_dir / f"pruning-{a.database}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
