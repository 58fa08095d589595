"""`python -m bench [--activities N] [--quick]`: the whole benchmark, one command."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from bench import BenchError
from bench.config import FULL_ACTIVITIES, QUICK_ACTIVITIES, README, RESULTS_DIR, Options
from bench.report import FAILED
from bench.run import report, run


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--activities", type=int, default=None,
                   help=f"demo activities to load (default {FULL_ACTIVITIES:,}; "
                        f"{QUICK_ACTIVITIES:,} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="few repetitions, short load, peers skipped: keeps the harness honest")
    p.add_argument("--database", default="jangkau_bench",
                   help="database to (re)create on the server (dropped first!)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--readme", type=Path, default=README,
                   help="file whose results block is replaced")
    p.add_argument("--no-readme", action="store_true", help="leave the README alone")
    a = p.parse_args(argv)
    activities = a.activities or (QUICK_ACTIVITIES if a.quick else FULL_ACTIVITIES)
    if activities < 1:
        p.error("--activities must be positive")
    return Options(activities=activities, quick=a.quick, database=a.database,
                   results_dir=a.results_dir, readme=None if a.no_readme else a.readme,
                   command=shlex.join(["python", "-m", "bench", *argv]))


def main(argv: list[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    try:
        meta, rows = asyncio.run(run(opts))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    path = report(opts, meta, rows)
    print(f"\nresults: {path}")
    return 1 if any(r.status == FAILED for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
