"""`python -m bench.access_key --database NAME`: what the access log's key on `staff` cost.

Migration 0017 dropped the foreign key from `access_log.subject_staff_id` to `staff`, which
PostgreSQL checked by locking every named staff row. On a database `python -m bench` loaded and
kept, this writes a page's 100 access-log rows through `access_log_write` in transactions that
are rolled back, with the key put back (NOT VALID) and without it; both arms alter the table
first, so both pay the same plan invalidation. Prints the median of each round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg

from bench.database import server_url, with_database
from geo.access_log import WRITE
from geo.db import server_settings

ARMS = {
    "without the key": "ADD CONSTRAINT bench_ck CHECK (subject_staff_id IS NOT NULL) NOT VALID",
    "with the key": "ADD CONSTRAINT bench_fk FOREIGN KEY (subject_staff_id) "
                    "REFERENCES staff (id) NOT VALID",
}


async def main(database: str, n: int, rounds: int) -> None:
    c = await asyncpg.connect(with_database(server_url(), database),
                              server_settings=server_settings(15_000))
    try:
        subjects = [r[0] for r in await c.fetch(
            "SELECT staff_id FROM activities ORDER BY started_at DESC LIMIT 100")]
        k = len(subjects)
        rows = (["bench.access_key"] * k, ["supervisor"] * k, subjects,
                ["Activity.location, activities"] * k, ['{"activities": 1}'] * k)
        medians: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for _ in range(rounds):
            for arm, alter in ARMS.items():
                times = []
                for _ in range(n):
                    tx = c.transaction()
                    await tx.start()
                    await c.execute(f"ALTER TABLE access_log {alter}")
                    t0 = time.perf_counter()
                    await c.execute(WRITE, *rows)
                    times.append((time.perf_counter() - t0) * 1000)
                    await tx.rollback()
                medians[arm].append(statistics.median(times))
        for arm, ms in medians.items():
            print(f"{k} rows {arm:<16} median ms by round: "
                  + ", ".join(f"{m:.2f}" for m in ms))
    finally:
        await c.close()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--n", type=int, default=150, help="writes per arm and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.database, args.n, args.rounds))


if __name__ == "__main__":
    cli()
