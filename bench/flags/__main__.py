"""`python -m bench.flags [--seed S] [--staff N] [--days D] [--fraud-days F]`: generate the
labelled set, load it into a fresh database on the private cluster (or DATABASE_URL's server),
print the scores, drop the database."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import asyncpg

from bench.config import UNTIL
from bench.database import recreate, server_url, with_database
from bench.flags.measure import evaluate_set, report
from geo import migrate
from geo.db import connect


async def _drop(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.flags", description=__doc__)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--staff", type=int, default=100)
    p.add_argument("--days", type=int, default=28, help="calendar days up to 27 Nov 2026")
    p.add_argument("--fraud-days", type=int, default=25, help="staff-days faked per pattern")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    admin = server_url()
    name = f"jangkau_flags_{os.getpid()}"
    asyncio.run(recreate(admin, name))
    url = with_database(admin, name)
    try:
        migrate.upgrade(url)

        async def run() -> str:
            async with connect(url) as conn:
                return report(await evaluate_set(conn, a.seed, a.staff, UNTIL, a.days,
                                                 a.fraud_days))

        print(asyncio.run(run()))
    finally:
        asyncio.run(_drop(admin, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
