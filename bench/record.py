"""`python -m bench.record --database NAME`: the recordActivities row alone (issue 13).

On a database `python -m bench` loaded and kept, starts `jangkau serve` and runs the bench's own
scenario (`bench.writes.record_activities`: 4 clients × batches of 500, then the raw
`executemany` reference and the same reference with the batch judged) `--rounds` times, on days
no other activity is on or, with `--days-back 10 40`, among the demo's activities, each
round Jangkau, raw, judged. The scenario deletes the rows it recorded again (untimed), so that
every round and every run starts from the same rows. Prints, round by
round, activities/s of the three sides, the ratios, and the server process's CPU per batch
(on a small machine it competes with the database for the same cores).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import BenchError
from bench.config import Options
from bench.context import Bench
from bench.database import JANGKAU, jangkau_env, server_url, with_database
from bench.servers import Server, answers, cpu_s, free_port, start
from bench.writes import CLIENTS, record_activities
from geo.db import server_settings


@dataclass(frozen=True)
class RecordOptions(Options):
    batches: int = 5

    @property
    def record_batches(self) -> int:
        return self.batches


def _serve(url: str, program: Path) -> Server:
    """`jangkau serve` from `program`: this checkout's, or another's to compare with."""
    port = free_port()
    return start("jangkau", [str(program), "serve", "--host", "127.0.0.1", "--port", str(port)],
                 jangkau_env(url), port, Path(tempfile.mkdtemp(prefix="jangkau-record-")),
                 answers("/readyz"))


async def main(opts: RecordOptions, rounds: int, program: Path) -> None:
    url = with_database(server_url(), opts.database)
    jangkau = _serve(url, program)
    conn = await asyncpg.connect(url, server_settings=server_settings(0))
    b = Bench(opts, url, conn, jangkau, None, None, 0.0)
    ratios: list[float] = []
    try:
        for r in range(rounds):
            cpu = cpu_s(jangkau.pid)
            row = await record_activities(b)
            cpu = cpu_s(jangkau.pid) - cpu
            assert row.jangkau and row.ref and row.ratio is not None
            ours, raw, judged = row.jangkau["value"], row.ref["value"], row.ref["judged_value"]
            ratios.append(row.ratio)
            print(f"round {r + 1}: Jangkau {ours:,.0f}/s (batch p50 "
                  f"{row.jangkau['batch_p50_ms']:.0f} ms, server CPU "
                  f"{cpu * 1000 / (opts.batches * CLIENTS + 1):.0f} ms a batch), "
                  f"raw executemany {raw:,.0f}/s, "
                  f"raw + judged {judged:,.0f}/s; Jangkau/raw {row.ratio:.2f}x, "
                  f"Jangkau/judged {ours / judged:.2f}x; lost {row.jangkau['lost']}, "
                  f"rollup rows differing {row.jangkau['rollup_drift']}, errors {row.errors}; "
                  f"{row.jangkau['deleted']} recorded rows deleted", flush=True)
            if row.errors:
                raise BenchError(row.note)
        if rounds > 1:
            print(f"median Jangkau/raw over {rounds} rounds: {statistics.median(ratios):.2f}x")
    finally:
        b.close()
        await conn.close()
        jangkau.stop()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--batches", type=int, default=5,
                        help="batches of 500 each of the 4 clients sends (the full run: 10)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--days-back", type=int, nargs=2, metavar=("NEAR", "FAR"),
                        default=Options.record_days_back,
                        help="the activities begin NEAR to FAR days before the demo's last day: "
                        "by default before its 90 days, on days no other activity is on; "
                        "10 40 puts them among the demo's, each judged with its neighbours")
    parser.add_argument("--jangkau", type=Path, default=JANGKAU,
                        help="the `jangkau` program to serve with (another checkout's, to compare; "
                        "the database must be at its migration head)")
    a = parser.parse_args()
    near, far = a.days_back
    asyncio.run(main(RecordOptions(database=a.database, readme=None, seed=a.seed,
                                   batches=a.batches, record_days_back=(near, far),
                                   command="python -m bench.record"),
                     a.rounds, a.jangkau))


if __name__ == "__main__":
    cli()
