"""`python -m bench.plans --database NAME`: what cached plans save (issue 13, migration 0015).

Jangkau's connections plan every statement for its values (`force_custom_plan`); on the
partitioned `activities` a plan covers every month partition. On a database `python -m bench`
loaded and kept, this times three reads both ways with 16 connections (one for the page) that
have Jangkau's session settings: a lookup by id written out against `activities_by_id`; the
access log's 8-row INSERT against `access_log_write` (rows removed after); a page of 100
activities planned for its values against planned generically (`SET LOCAL`, as
`geo.db.plan_generically`). Prints statements a second and the database's CPU per statement,
read from /proc: meaningful only when PostgreSQL runs on this machine (the private cluster).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import orjson

from bench.database import server_url, with_database
from geo.access_log import WRITE
from geo.db import GENERIC, server_settings
from geo.page_json import Shape, object_sql

Work = Callable[[asyncpg.Connection, int], Awaitable[object]]
LOOKUP = Shape("activity", (("id", "id"), ("startedAt", "startedAt"), ("category", "category")))
# One lookup by id as migration 0015 made it (graph.fastpath now reads several at once).
ONE = f"SELECT a.staff_id, {object_sql(LOOKUP)} FROM activities_by_id(ARRAY[$1::uuid]) a"
PAGE = """SELECT a.id, a.staff_id, a.started_at, ST_AsGeoJSON(a.geom, 6)
          FROM activities a WHERE a.review IN ('NONE', 'ACCEPTED')
          ORDER BY a.started_at DESC, a.id DESC LIMIT $1"""
INSERT = """INSERT INTO access_log (actor_sub, actor_role, subject_staff_id, what, detail)
            SELECT r.sub, r.role, r.subject, r.what, CAST(r.detail AS jsonb)
            FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[])
                 AS r(sub, role, subject, what, detail)"""


def postgres_cpu_s() -> float:
    """CPU seconds of every postgres process alive now (user + system)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def measure(name: str, conns: list[asyncpg.Connection], work: Work, n: int) -> None:
    async def run(c: asyncpg.Connection, k: int) -> None:
        for i in range(k):
            await work(c, i)

    await asyncio.gather(*(run(c, 10) for c in conns))
    cpu, t0 = postgres_cpu_s(), time.perf_counter()
    await asyncio.gather(*(run(c, n) for c in conns))
    seconds, statements = time.perf_counter() - t0, n * len(conns)
    print(f"{name:<44} {statements / seconds:8,.0f}/s  database CPU "
          f"{(postgres_cpu_s() - cpu) * 1000 / statements:.3f} ms a statement")


async def main(database: str, n: int) -> None:
    url = with_database(server_url(), database)
    settings = server_settings(15_000)
    conns = [await asyncpg.connect(url, server_settings=settings) for _ in range(16)]
    try:
        c = conns[0]
        ids = [r[0] for r in await c.fetch(
            "SELECT id FROM activities TABLESAMPLE SYSTEM (1) REPEATABLE (42) LIMIT 64")]
        staff = [r[0] for r in await c.fetch("SELECT id FROM staff ORDER BY id LIMIT 64")]
        direct = ONE.replace("activities_by_id(ARRAY[$1::uuid]) a",
                                         "activities a WHERE a.id = $1")
        for name, sql in (("lookup by id, planned each time", direct),
                          ("lookup by id, activities_by_id", ONE)):
            await measure(name, conns, lambda cn, i, q=sql: cn.fetch(q, ids[i % 64]), n)
        detail = orjson.dumps({"activities": 1, "fields": {"activity": 1}}).decode()

        def rows(i: int) -> list[list[object]]:
            picked = [staff[(i + k) % 64] for k in range(8)]
            return [["bench.plans"] * 8, ["admin"] * 8, picked, ["activity"] * 8, [detail] * 8]

        for name, sql in (("access log, 8 rows, planned each time", INSERT),
                          ("access log, 8 rows, access_log_write", WRITE)):
            await measure(name, conns, lambda cn, i, q=sql: cn.execute(q, *rows(i)), n)
        await c.execute("DELETE FROM access_log WHERE actor_sub = 'bench.plans'")

        async def generic(cn: asyncpg.Connection, i: int) -> object:
            async with cn.transaction():
                await cn.execute(GENERIC)
                return await cn.fetch(PAGE, 100)

        await measure("page of 100, planned each time", conns[:1],
                      lambda cn, i: cn.fetch(PAGE, 100), n * 4)
        await measure("page of 100, generic plan in a transaction", conns[:1], generic, n * 4)
    finally:
        for cn in conns:
            await cn.close()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--n", type=int, default=200, help="statements per connection")
    args = parser.parse_args()
    asyncio.run(main(args.database, args.n))


if __name__ == "__main__":
    cli()
