"""`python -m bench.compiled --database NAME`: what compiling pages buys (issue 13), measured.

On a database `python -m bench` loaded (kept, e.g. `--database jangkau_bench_compile`), starts
two `jangkau serve`: one compiling pages to SQL JSON (the default), one resolving every field
(JANGKAU_COMPILE_PAGES=0), and times the benchmark's page (`activities(first: 100)` with
location and staff) on both and the raw SQL of the same page, in turn (A B C C B A ...), after
checking that both servers give the same answer. Then the benchmark's lookup
(`activity(id)`, 64 ids in turn) on both: answered by graph.fastpath, or by the executor. Prints
p50, p95, the ratios and each server's CPU per request.
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
from bench.servers import Server, answers, cpu_s, free_port, start
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
        ids = [str(r) for (r,) in await conn.fetch(
            "SELECT id FROM activities TABLESAMPLE SYSTEM (1) REPEATABLE (42) LIMIT 64")]
        await _lookups(servers, apis, [GraphQL.body(queries.LOOKUP, {"id": i}) for i in ids],
                       reps)
    finally:
        for c in clients:
            c.close()
        await conn.close()
        for s in servers:
            s.stop()


async def _lookups(servers: list[Server], apis: list[GraphQL], bodies: list[bytes],
                   reps: int) -> None:
    """The lookup on the fast path (the default server) and through the executor, in turn;
    each server's CPU per request from /proc around its own requests."""
    answers_ = [[api.post(b) for b in bodies] for api in apis]
    assert answers_[0] == answers_[1], "fast path and executor answers differ"
    times: list[list[float]] = [[], []]
    cpu = [0.0, 0.0]
    for r in range(reps):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            c0 = cpu_s(servers[i].pid)
            for b in bodies[:16]:
                t0 = time.perf_counter()
                apis[i].post(b)
                times[i].append(time.perf_counter() - t0)
            cpu[i] += cpu_s(servers[i].pid) - c0
    for i, name in enumerate(("fast path", "executor")):
        m = summarize(times[i])
        print(f"lookup, {name:>9}: p50 {m.p50:.2f} ms, p95 {m.p95:.2f} ms, n={m.n}, "
              f"server CPU {cpu[i] * 1000 / len(times[i]):.2f} ms a lookup")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--first", type=int, default=100)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.database, args.first, args.reps))


if __name__ == "__main__":
    cli()
