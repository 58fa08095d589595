"""The benchmark's own database: a dedicated one on the private cluster (or DATABASE_URL's
server), recreated each run, migrated and loaded through the `jangkau` command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import BenchError, sql
from bench.config import Options
from geo.database import ensure_database
from geo.demo import BOUNDARY_FILES
from geo.settings import Settings
from graph.auth import mint

JANGKAU = Path(sys.executable).with_name("jangkau")
# The server under test verifies HS256 tokens with this; the bench asks as an admin, so reads of
# activities also pay for their access-log rows, as in production.
BENCH_SECRET = "jangkau-bench-only-secret-0123456789abcdef"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def server_url() -> str:
    """The server to use: DATABASE_URL's, or the private cluster (started when needed)."""
    return ensure_database(Settings.from_env())


async def recreate(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def jangkau_env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "JANGKAU_JWT_SECRET": BENCH_SECRET}


def admin_headers() -> dict[str, str]:
    """What every request to the Jangkau under test carries (never sent to the peers)."""
    token = mint(BENCH_SECRET, role="admin", sub="bench", ttl_s=12 * 3600)
    return {"Authorization": f"Bearer {token}"}


def jangkau(args: list[str], url: str) -> float:
    """Run `jangkau ARGS` against `url`; returns its wall time in seconds."""
    t0 = time.perf_counter()
    res = subprocess.run([str(JANGKAU), *args], env=jangkau_env(url), capture_output=True,
                         text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise BenchError(f"jangkau {' '.join(args[:2])} failed ({res.returncode}):\n"
                         f"{(res.stderr or res.stdout)[-2000:]}")
    return elapsed


async def prepare(opts: Options, url: str) -> float:
    """Migrate, import the boundaries, then load the demo activities: the load's seconds."""
    jangkau(["db", "upgrade"], url)
    jangkau(["areas", "import", *map(str, BOUNDARY_FILES)], url)
    staff = ["--staff", str(opts.staff)] if opts.staff else []
    seconds = jangkau(["demo", "load", "--activities", str(opts.activities),
                       "--seed", str(opts.seed), "--until", opts.until.isoformat(), *staff], url)
    conn = await asyncpg.connect(url)
    try:
        loaded = await conn.fetchval(sql.COUNT)
        # What autovacuum would do before long: set the visibility map, and give every table
        # statistics (the load analyzes only `activities`; plans over targets, staff and areas
        # change when autovacuum gets to them, which would make the figures drift mid-run).
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    if loaded != opts.activities:
        raise BenchError(f"demo load stored {loaded} activities, not {opts.activities}")
    return seconds
