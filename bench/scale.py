"""`python -m bench.scale --activities N`: what grows with the number of activities (issue 14).

Loads N demo activities into a database of its own (`jangkau_scale_<N>` unless `--database`
says otherwise) with the bench's loader, then measures with the bench's server, scenarios and
statistics: load time and rows/s, table + index + rollup bytes and bytes per activity, coverage
(30 and 90 days), coverageMap, activity tiles, a page of activities and recordActivities, each
against its raw-SQL reference so that every answer is checked at every size. The JSON goes to
bench/results/scale-<N>.json; the database is dropped afterwards unless `--keep`.
`python -m bench.scale --table` prints the growth table of the runs found there.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench import BenchError, database, scenarios, sql
from bench.config import RESULTS_DIR, Options
from bench.context import Bench
from bench.report import FAILED, Row, table
from bench.run import commit, guarded, machine, start_jangkau
from bench.writes import record_activities
from geo.db import server_settings

# What holds one activity's bytes: the table and what the write path keeps up beside it.
# `activity_ids` exists once activities are partitioned (0012): the id's uniqueness across months.
RELATIONS = ["activities", "activity_ids", "flag_reviews", "rollup_area_day", "rollup_presence"]


@dataclass(frozen=True)
class ScaleOptions(Options):
    """Fewer, longer repetitions than the bench: at 10M a raw 90-day aggregate takes seconds."""

    keep: bool = False
    reps: int | None = None             # a fixed number of repetitions, no warm-up beyond one
    reuse_load_s: float | None = None   # measure the database as it is, loaded in this many s

    @property
    def peers(self) -> bool:
        return False

    @property
    def warmup(self) -> int:
        return 1 if self.quick or self.reps else 2

    @property
    def min_reps(self) -> int:
        return self.reps or (3 if self.quick else 20)

    @property
    def max_reps(self) -> int:
        return self.reps or (3 if self.quick else 100)

    @property
    def budget_s(self) -> float:
        return 0.0 if self.quick or self.reps else 20.0

    @property
    def record_batches(self) -> int:
        return 1 if self.quick else 5


async def sizes(conn: asyncpg.Connection, activities: int) -> dict[str, Any]:
    rel = {r["name"]: {"heap": r["heap"], "indexes": r["indexes"]}
           for r in await conn.fetch(sql.SIZES, RELATIONS)}
    total = sum(v["heap"] + v["indexes"] for v in rel.values())
    return {"relations": rel, "total": total, "per_activity": round(total / activities, 1),
            "database": await conn.fetchval(sql.DATABASE_SIZE)}


async def measure(b: Bench) -> list[Row]:
    steps: list[tuple[str, Callable[[], Awaitable[Row | list[Row]]]]] = [
        ("coverage_30d", lambda: scenarios.coverage(b, 30, 1.2)),
        ("coverage_90d", lambda: scenarios.coverage(b, 90, 0.2)),
        ("coverage_map_z12", lambda: scenarios.coverage_map(b)),
        ("activities_first_100", lambda: scenarios.activities_page(b)),
        ("tiles", lambda: scenarios.tiles(b)),
        ("record_activities", lambda: record_activities(b)),
    ]
    rows: list[Row] = []
    for key, work in steps:
        print(f"[scale] {key} …", flush=True)
        await guarded(rows, key, work)
    return rows


async def run(opts: ScaleOptions) -> dict[str, Any]:
    base = database.server_url()
    url = database.with_database(base, opts.database)
    admin = database.with_database(base, "postgres")
    if opts.reuse_load_s is None:
        await database.recreate(admin, opts.database)
        print(f"[scale] loading {opts.activities:,} activities into {opts.database} …",
              flush=True)
        load_seconds = await database.prepare(opts, url)
    else:
        load_seconds = opts.reuse_load_s
    conn = await asyncpg.connect(url, server_settings=server_settings(0))
    server = None
    try:
        host = await machine(conn)
        size = await sizes(conn, opts.activities)
        server = start_jangkau(url, Path(tempfile.mkdtemp(prefix="jangkau-scale-")))
        b = Bench(opts, url, conn, server, None, None, load_seconds)
        rows = await measure(b)
        b.close()
    finally:
        if server is not None:
            server.stop()
        await conn.close()
    if not opts.keep:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{opts.database}" WITH (FORCE)')
        finally:
            await conn.close()
    print(table(rows))
    return {"meta": {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                     "command": opts.command, "activities": opts.activities,
                     "seed": opts.seed, "until": opts.until.isoformat(), "staff": opts.staff,
                     "database": opts.database, "commit": commit(), "machine": host,
                     "reused": opts.reuse_load_s is not None},
            "load": {"seconds": round(load_seconds, 3),
                     "rows_per_s": round(opts.activities / load_seconds, 1)},
            "sizes": size, "rows": [r.as_json() for r in rows]}


def _headline(row: dict[str, Any]) -> tuple[str, float] | None:
    f = row["jangkau"]
    if not f:
        return None
    if row["unit"] == "ms":
        raw = f" (raw SQL p50 {row['ref']['p50']:,.1f})" if row["ref"] else ""
        return f"p50 {f['p50']:,.1f} · p95 {f['p95']:,.1f} ms{raw}", f["p50"]
    if "batch_p50_ms" in f:
        return (f"{f['value']:,.0f}/s; a batch p50 {f['batch_p50_ms']:,.0f} · "
                f"p95 {f['batch_p95_ms']:,.0f} ms"), f["batch_p50_ms"]
    return f"{f['value']:,.0f} {row['unit']}", f["value"]


def growth(docs: list[dict[str, Any]]) -> str:
    """One Markdown row per figure, one column per run, and last / first (×)."""
    docs = sorted(docs, key=lambda d: d["meta"]["activities"])
    head = [f"{d['meta']['activities']:,}" for d in docs]
    lines = ["| figure | " + " | ".join(head) + " | growth |",
             "|---|" + "---|" * len(docs) + "---|"]

    def line(name: str, cells: list[tuple[str, float] | None]) -> None:
        shown = [c[0] if c else "—" for c in cells]
        first, last = cells[0], cells[-1]
        grown = f"{last[1] / first[1]:.2f}×" if first and last and first[1] else "—"
        lines.append(f"| {name} | " + " | ".join(shown) + f" | {grown} |")

    line("load (`jangkau demo load`)", [
        (f"{d['load']['seconds']:,.0f} s, {d['load']['rows_per_s']:,.0f} rows/s",
         d["load"]["seconds"]) for d in docs])
    for rel in RELATIONS:
        sizes = [d["sizes"]["relations"].get(rel) for d in docs]
        if any(sizes):
            line(f"`{rel}` heap + indexes", [
                (f"{r['heap'] / 2**20:,.0f} + {r['indexes'] / 2**20:,.0f} MB",
                 r["heap"] + r["indexes"]) if r else None for r in sizes])
    line("bytes per activity (all of the above)", [
        (f"{d['sizes']['per_activity']:,.0f} B", d["sizes"]["per_activity"]) for d in docs])
    for key, title in [(r["key"], r["scenario"]) for r in docs[-1]["rows"]]:
        cells = [next((_headline(r) for r in d["rows"] if r["key"] == key), None) for d in docs]
        line(title, cells)
    return "\n".join(lines)


def parse(argv: list[str]) -> tuple[ScaleOptions | None, Path]:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--activities", type=int, help="demo activities to load")
    p.add_argument("--database", help="database to (re)create (default jangkau_scale_<N>)")
    p.add_argument("--staff", type=int, default=None,
                   help="staff sharing the activities (`demo load --staff`); the demo's default "
                        "caps them at 2,000, so 10M would give each 55 activities a working day")
    p.add_argument("--keep", action="store_true", help="leave the database behind")
    p.add_argument("--reps", type=int, default=None,
                   help="exactly N repetitions of each side (at 10M a raw 90-day aggregate "
                        "takes tens of seconds)")
    p.add_argument("--reuse", type=float, default=None, metavar="LOAD_SECONDS",
                   help="measure the database left by an earlier --keep run as it is; its load "
                        "took LOAD_SECONDS (the earlier run's wall time of `demo load`)")
    p.add_argument("--quick", action="store_true",
                   help="3 repetitions, one recording batch per client: keeps the harness honest")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--table", action="store_true",
                   help="print the growth table of the scale-*.json runs, measure nothing")
    a = p.parse_args(argv)
    if a.table:
        return None, a.results_dir
    if not a.activities or a.activities < 1:
        p.error("--activities N (positive) is needed unless --table")
    opts = ScaleOptions(activities=a.activities, keep=a.keep, quick=a.quick, staff=a.staff,
                        reps=a.reps, reuse_load_s=a.reuse,
                        results_dir=a.results_dir,
                        database=a.database or f"jangkau_scale_{a.activities}", readme=None,
                        command=shlex.join(["python", "-m", "bench.scale", *argv]))
    return opts, a.results_dir


def main(argv: list[str] | None = None) -> int:
    opts, results = parse(sys.argv[1:] if argv is None else argv)
    if opts is None:
        docs = [orjson.loads(p.read_bytes()) for p in sorted(results.glob("scale-*.json"))]
        print(growth(docs) if docs else f"no scale-*.json in {results}")
        return 0
    try:
        doc = asyncio.run(run(opts))
    except BenchError as exc:
        print(f"bench.scale: {exc}", file=sys.stderr)
        return 2
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"scale-{opts.activities}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nresults: {path}")
    return 1 if any(r["status"] == FAILED for r in doc["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
