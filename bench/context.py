"""What every scenario works with, and the one way latencies are measured: warm-up, then
repetitions alternating Jangkau and its reference (ABBA order), so drift hits both alike."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from bench import BenchError
from bench.client import GraphQL, Http
from bench.config import Options
from bench.database import admin_headers
from bench.servers import Server
from bench.stats import Summary, summarize
from geo.periods import Period

Call = Callable[[], Awaitable[Any]]
Check = Callable[[Any, Any], None]


@dataclass
class Bench:
    opts: Options
    url: str
    conn: asyncpg.Connection          # the raw-SQL reference's connection (jit off, as Jangkau's)
    jangkau: Server
    tipg: Server | None
    postgraphile: Server | None
    load_seconds: float

    def __post_init__(self) -> None:
        self.http = Http(self.jangkau.port, headers=admin_headers())
        self.api = GraphQL(self.http)

    def period(self, days: int) -> tuple[date, date]:
        """The `days` WIB days ending on the run's fixed last day."""
        return self.opts.until - timedelta(days=days - 1), self.opts.until

    def instants(self, days: int) -> tuple[datetime, datetime]:
        """The same period as [t0, t1) instants."""
        p = Period(*self.period(days))
        return p.t0, p.t1

    def close(self) -> None:
        self.http.close()


def same(what: str, ours: list[Any], theirs: list[Any]) -> None:
    """Jangkau and its reference must give the same answer before their speed means anything."""
    if ours != theirs:
        diff = next(((a, b) for a, b in zip(ours, theirs, strict=False) if a != b),
                    (len(ours), len(theirs)))
        raise BenchError(f"{what}: Jangkau and the reference disagree, first at {diff}")


async def _timed(call: Call) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = await call()
    return time.perf_counter() - t0, result


async def compare(opts: Options, jangkau: Call, reference: Call | None,
                  check: Check | None = None) -> tuple[Summary, Summary | None]:
    """Latency summaries of both sides; `check` compares their first answers (else BenchError)."""
    sides = [jangkau] if reference is None else [jangkau, reference]
    first = [await call() for call in sides]
    if check is not None and reference is not None:
        check(first[0], first[1])
    for _ in range(opts.warmup - 1):
        for call in sides:
            await call()
    per_round = sum([(await _timed(call))[0] for call in sides])
    reps = int(opts.budget_s / per_round) if per_round > 0 else opts.max_reps
    reps = max(opts.min_reps, min(opts.max_reps, reps))
    times: list[list[float]] = [[] for _ in sides]
    for i in range(reps):
        order = range(len(sides)) if i % 2 == 0 else reversed(range(len(sides)))
        for k in order:
            times[k].append((await _timed(sides[k]))[0])
    return summarize(times[0]), summarize(times[1]) if reference is not None else None
