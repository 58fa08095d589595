"""`python -m bench.access_write --database NAME`: what a page's access-log write costs before
its answer leaves, as the log has been written (issue 13).

On a database `python -m bench` loaded and kept, this writes the access log of a page of 100
people's activities in transactions that are rolled back, four ways: a page's row of
`access_log_pages` (migration 0019, what graph.fastpage's statement writes), one journal row
through `access_log_write` (migration 0018, what the executor's requests write), 100
`access_log` rows by one INSERT over the same arrays (migration 0017), and those rows with the
subject's foreign key on `staff` put back (NOT VALID, as before 0017). Every arm alters
`access_log` first, so all pay the same plan invalidation. Prints the median of each round.
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

ROWS = """
    INSERT INTO access_log (actor_sub, actor_role, subject_staff_id, what, detail)
    SELECT r.sub, r.role, r.subject, r.what, CAST(r.detail AS jsonb)
    FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[])
        AS r(sub, role, subject, what, detail)"""
CHECK = "ADD CONSTRAINT bench_ck CHECK (subject_staff_id IS NOT NULL) NOT VALID"
KEY = "ADD CONSTRAINT bench_fk FOREIGN KEY (subject_staff_id) REFERENCES staff (id) NOT VALID"
PAGE = """
    INSERT INTO access_log_pages (sub, role, fields, subjects, counts)
    VALUES ($1, $2, $3, $4, $5)"""
ARMS = {  # arm: (how access_log is altered first, the write)
    "a page's row (0019)": (CHECK, PAGE),
    "a journal row (0018)": (CHECK, WRITE),
    "100 log rows (0017)": (CHECK, ROWS),
    "100 log rows, keyed": (KEY, ROWS),
}


async def main(database: str, n: int, rounds: int) -> None:
    c = await asyncpg.connect(with_database(server_url(), database),
                              server_settings=server_settings(15_000))
    try:
        subjects = [r[0] for r in await c.fetch(
            "SELECT DISTINCT staff_id FROM activities LIMIT 100")]
        k = len(subjects)
        rows = (["bench.access_write"] * k, ["supervisor"] * k, subjects,
                ["Activity.location, activities"] * k,
                ['{"activities": 1, "fields": {"Activity.location": 1, "activities": 1}}'] * k)
        page = ("bench.access_write", "supervisor", ["Activity.location", "activities"],
                subjects, [1] * k)
        medians: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for _ in range(rounds):
            for arm, (alter, write) in ARMS.items():
                times = []
                for _ in range(n):
                    tx = c.transaction()
                    await tx.start()
                    await c.execute(f"ALTER TABLE access_log {alter}")
                    t0 = time.perf_counter()
                    await c.execute(write, *(page if write is PAGE else rows))
                    times.append((time.perf_counter() - t0) * 1000)
                    await tx.rollback()
                medians[arm].append(statistics.median(times))
        for arm, ms in medians.items():
            print(f"{k} people, {arm:<22} median ms by round: "
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
