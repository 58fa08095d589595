"""One run from an empty database to the report; every scenario in turn, one at a time."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import database, peers, scenarios, sql
from bench.concurrent import concurrent
from bench.config import BENCH_DIR, Options
from bench.context import Bench
from bench.load import ensure_wrk
from bench.lookup import lookup
from bench.report import FAILED, NO_GOAL, Row, document, table, write_json, write_readme
from bench.servers import Server, answers, free_port, start
from bench.writes import bulk_load, record_activities
from geo.db import server_settings


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return 0.0


def commit() -> str:
    res = subprocess.run(["git", "-C", str(BENCH_DIR), "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    return res.stdout.strip() or "unknown"


async def machine(conn: asyncpg.Connection) -> dict[str, Any]:
    pg, postgis, jit = await conn.fetchrow(sql.VERSIONS)
    return {"nproc": os.cpu_count(), "memory_gib": _memory_gib(), "cpu": _cpu(),
            "postgresql": pg, "postgis": postgis, "jit": jit,
            "python": platform.python_version()}


def start_jangkau(url: str, log_dir: Path) -> Server:
    port = free_port()
    return start("jangkau", [str(database.JANGKAU), "serve", "--host", "127.0.0.1",
                             "--port", str(port)],
                 database.jangkau_env(url), port, log_dir, answers("/readyz"))


async def guarded(rows: list[Row], key: str,
                   work: Callable[[], Awaitable[Row | list[Row]]]) -> None:
    """Run one scenario; a failure becomes a failed row and the run goes on."""
    try:
        got = await work()
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not lose the others
        traceback.print_exc()
        rows.append(Row(key, key, "—", "—", NO_GOAL, status=FAILED, errors=1,
                        note=f"{type(exc).__name__}: {str(exc)[:400]}"))
        return
    rows.extend(got if isinstance(got, list) else [got])


async def run(opts: Options) -> tuple[dict[str, Any], list[Row]]:
    log_dir = Path(tempfile.mkdtemp(prefix="jangkau-bench-"))
    base = database.server_url()
    url = database.with_database(base, opts.database)
    ensure_wrk()
    if opts.peers:      # before the long load, so a missing peer fails fast
        peers.ensure_tipg()
        peers.ensure_postgraphile()
    await database.recreate(database.with_database(base, "postgres"), opts.database)
    load_seconds = await database.prepare(opts, url)
    conn = await asyncpg.connect(url, server_settings=server_settings(0))
    servers: list[Server] = []
    rows: list[Row] = []
    try:
        host = await machine(conn)
        servers.append(jangkau := start_jangkau(url, log_dir))
        tipg = postgraphile = None
        if opts.peers:
            await peers.install_peer_sql(url)
            servers.append(tipg := peers.start_tipg(url, log_dir))
            servers.append(postgraphile := peers.start_postgraphile(url, log_dir))
        b = Bench(opts, url, conn, jangkau, tipg, postgraphile, load_seconds)
        steps: list[tuple[str, Callable[[], Awaitable[Row | list[Row]]]]] = [
            ("bulk_load", lambda: bulk_load(b)),
            ("coverage_30d", lambda: scenarios.coverage(b, 30, 1.2)),
            ("coverage_90d", lambda: scenarios.coverage(b, 90, 0.2)),
            ("coverage_map_z12", lambda: scenarios.coverage_map(b)),
            ("activities_first_100", lambda: scenarios.activities_page(b)),
            ("activities_first_100_postgraphile",
             lambda: scenarios.activities_page_postgraphile(b)),
            ("tiles", lambda: scenarios.tiles(b)),
            ("concurrent_mix", lambda: concurrent(b)),
            ("activity_lookup", lambda: lookup(b)),
            ("record_activities", lambda: record_activities(b)),
        ]
        for key, work in steps:
            print(f"[bench] {key} …", flush=True)
            await guarded(rows, key, work)
        b.close()
    finally:
        for s in servers:
            s.stop()
        await conn.close()
    meta = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "command": opts.command, "activities": opts.activities, "quick": opts.quick,
            "seed": opts.seed, "until": opts.until.isoformat(), "database": opts.database,
            "commit": commit(), "machine": host, "logs": str(log_dir)}
    return meta, rows


def report(opts: Options, meta: dict[str, Any], rows: list[Row]) -> Path:
    doc = document(meta, rows)
    path = write_json(doc, opts.results_dir)
    if opts.readme is not None:
        write_readme(opts.readme, meta, rows)
    print(table(rows))
    return path
