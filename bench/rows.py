"""`python -m bench.rows --database NAME KEY...`: some rows of `python -m bench` again, on a
database a full run loaded and kept (no reload, no recording): to measure one change quickly.

KEYs: coverage_30d, coverage_map_z12, activities_first_100, activities_first_100_postgraphile,
activity_lookup, tiles, concurrent_mix (with the server's memory). PostGraphile always runs,
tipg with `tiles`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from bench import database, peers, scenarios
from bench.concurrent import concurrent
from bench.config import Options
from bench.context import Bench
from bench.lookup import lookup
from bench.report import Row, table
from bench.run import guarded, start_jangkau
from geo.db import server_settings

Step = Callable[[Bench], Awaitable[Row | list[Row]]]
STEPS: dict[str, Step] = {
    "coverage_30d": lambda b: scenarios.coverage(b, 30, 1.2),
    "coverage_map_z12": scenarios.coverage_map,
    "activities_first_100": scenarios.activities_page,
    "activities_first_100_postgraphile": scenarios.activities_page_postgraphile,
    "activity_lookup": lookup,
    "tiles": scenarios.tiles,
    "concurrent_mix": concurrent,
}


async def main(name: str, keys: list[str]) -> None:
    opts = Options(database=name, readme=None, command=f"python -m bench.rows {name}")
    url = database.with_database(database.server_url(), name)
    log_dir = Path(tempfile.mkdtemp(prefix="jangkau-rows-"))
    conn = await asyncpg.connect(url, server_settings=server_settings(0))
    servers = [start_jangkau(url, log_dir)]
    rows: list[Row] = []
    try:
        await peers.install_peer_sql(url)
        servers.append(pg := peers.start_postgraphile(url, log_dir))
        tipg = None
        if "tiles" in keys:
            servers.append(tipg := peers.start_tipg(url, log_dir))
        b = Bench(opts, url, conn, servers[0], tipg, pg, 0.0)
        for key in keys:
            print(f"[bench.rows] {key} …", flush=True)
            await guarded(rows, key, lambda k=key: STEPS[k](b))  # type: ignore[misc]
        b.close()
    finally:
        for s in servers:
            s.stop()
        await conn.close()
    print(table(rows))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("keys", nargs="+", choices=sorted(STEPS))
    args = parser.parse_args()
    asyncio.run(main(args.database, args.keys))


if __name__ == "__main__":
    cli()
