"""`python -m bench.compiled --database NAME`: what compiling pages buys (issue 13), measured.

On a database `python -m bench` loaded (kept, e.g. `--database jangkau_bench_compile`), starts
two `jangkau serve`: one compiling pages to SQL JSON (the default), one resolving every field
(JANGKAU_COMPILE_PAGES=0), and times the benchmark's page (`activities(first: 100)` with
location and staff) on both and the raw SQL of the same page, in turn (A B C C B A ...), after
checking that both servers give the same answer. Prints p50, p95 and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg

from bench import queries, sql
from bench.client import GraphQL, Http
from bench.database import JANGKAU, admin_headers, jangkau_env, server_url, with_database
from bench.run import start_jangkau
from bench.servers import Server, answers, free_port, start
from bench.stats import summarize
from geo.db import server_settings


def _resolving(url: str, log_dir: Path) -> Server:
    port = free_port()
    env = {**jangkau_env(url), "JANGKAU_COMPILE_PAGES": "0"}
    return start("jangkau-resolving", [str(JANGKAU), "serve", "--host", "127.0.0.1",
                                       "--port", str(port)], env, port, log_dir,
                 answers("/readyz"))


async def main(database: str, page: int, reps: int) -> None:
    url = with_database(server_url(), database)
    log_dir = Path(tempfile.mkdtemp(prefix="jangkau-compiled-"))
    servers = [start_jangkau(url, log_dir), _resolving(url, log_dir)]
    conn = await asyncpg.connect(url, server_settings=server_settings(0))
    clients = [Http(s.port, headers=admin_headers()) for s in servers]
    try:
        body = GraphQL.body(queries.ACTIVITIES, {"first": page})
        apis = [GraphQL(c) for c in clients]
        first = [api.post(body) for api in apis]
        assert first[0] == first[1], "compiled and resolved answers differ"

        times: list[list[float]] = [[], [], []]
        for _ in range(5):
            for api in apis:
                api.post(body)
            await conn.fetch(sql.ACTIVITIES_PAGE, page)
        for r in range(reps):
            for i in (range(3) if r % 2 == 0 else reversed(range(3))):
                t0 = time.perf_counter()
                if i < 2:
                    apis[i].post(body)
                else:
                    await conn.fetch(sql.ACTIVITIES_PAGE, page)
                times[i].append(time.perf_counter() - t0)
        compiled, resolved, raw = (summarize(t) for t in times)
        for name, m in (("compiled", compiled), ("resolved", resolved), ("raw SQL", raw)):
            print(f"{name:>9}: p50 {m.p50:.2f} ms, p95 {m.p95:.2f} ms, n={m.n}")
        print(f"compiled / resolved: {compiled.p50 / resolved.p50:.2f}x; "
              f"compiled / raw: {compiled.p50 / raw.p50:.2f}x; "
              f"resolved / raw: {resolved.p50 / raw.p50:.2f}x")
    finally:
        for c in clients:
            c.close()
        await conn.close()
        for s in servers:
            s.stop()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--first", type=int, default=100)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.database, args.first, args.reps))


if __name__ == "__main__":
    cli()
