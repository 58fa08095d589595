"""`activity(id)` under load: 16 clients for the load's seconds, each request one activity by
id without its geometry, Jangkau (as an admin, so every read is another person's and writes
its access-log row) against PostGraphile's `activityById` on the same rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bench import BenchError, queries
from bench.client import GraphQL
from bench.concurrent import warm
from bench.context import Bench, same
from bench.database import admin_headers
from bench.load import run_wrk
from bench.report import QUICK_SKIP, Goal, Row
from bench.servers import cpu_s
from bench.writes import settle

CLIENTS = 16
IDS = 64        # requests cycle through this many activities, spread over the table


def _bodies(ids: list[str]) -> tuple[list[bytes], list[bytes]]:
    return ([GraphQL.body(queries.LOOKUP, {"id": i}) for i in ids],
            [GraphQL.body(queries.PG_LOOKUP, {"id": i}) for i in ids])


def _per(cpu_s: float, requests: int) -> str:
    return f"{cpu_s * 1000 / max(requests, 1):.2f} ms"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _agree(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """The same activity, the same instant (Jangkau answers in WIB), the same category."""
    same("activity by id",
         [(a["activity"]["id"], _instant(a["activity"]["startedAt"]), a["activity"]["category"])
          for a in ours],
         [(t["activityById"]["id"], _instant(t["activityById"]["startedAt"]),
           t["activityById"]["categoryCode"]) for t in theirs])


async def lookup(b: Bench) -> Row:
    row = Row("activity_lookup", f"activity(id) lookup, wrk -c{CLIENTS}",
              "PostGraphile v4 (activityById)", "req/s",
              Goal("req/s ≥ 1.0×, 0 errors", "ratio", ">=", 1.0))
    ids = [str(r) for (r,) in await b.conn.fetch(
        "SELECT id FROM activities TABLESAMPLE SYSTEM (1) REPEATABLE (42) LIMIT $1", IDS)]
    if not ids:
        ids = [str(r) for (r,) in await b.conn.fetch("SELECT id FROM activities LIMIT $1", IDS)]
    ours, theirs = _bodies(ids)
    answers = warm(b.jangkau.port, ours, admin_headers())
    logged = await _logged(b)
    settled = [await settle(b.conn)]
    cpu = cpu_s(b.jangkau.pid)
    mine = run_wrk(b.jangkau.port, "/graphql", ours, CLIENTS, b.opts.load_seconds,
                   headers=admin_headers())
    cpu = cpu_s(b.jangkau.pid) - cpu
    logged = await _logged(b) - logged
    if logged < mine.requests:
        raise BenchError(f"{mine.requests} lookups answered but {logged} access-log rows written")
    row.jangkau, row.errors = mine.figures(), mine.errors
    row.note = (f"{len(ids)} activities in turn, 1 Jangkau process; {logged:,} access-log rows "
                f"written for {mine.requests:,} answered lookups; CPU per lookup (a figure the "
                f"machine's other load moves less): Jangkau {_per(cpu, mine.requests)}")
    if b.postgraphile is None:
        row.status = QUICK_SKIP
        row.note += _quiet(settled)
        return row.finish()
    _agree(answers, warm(b.postgraphile.port, theirs))
    settled.append(await settle(b.conn))
    cpu = cpu_s(b.postgraphile.pid)
    peer = run_wrk(b.postgraphile.port, "/graphql", theirs, CLIENTS, b.opts.load_seconds)
    cpu = cpu_s(b.postgraphile.pid) - cpu
    row.ref = peer.figures()
    row.errors += peer.errors
    row.note += (f", PostGraphile {_per(cpu, peer.requests)} (1 node process, "
                 f"{peer.errors} errors)") + _quiet(settled)
    return row.finish()


def _quiet(settled: list[float]) -> str:
    """What each side waited for the database to be quiet (`writes.settle`), in order."""
    waits = ", ".join(f"{s:.1f} s" for s in settled)
    return f"; each side after a checkpoint and a wait for the database to be quiet: {waits}"


async def _logged(b: Bench) -> int:
    """The access log's rows, the journal written out first (migration 0018)."""
    await b.conn.execute("SELECT access_log_expand(1000000)")
    return int(await b.conn.fetchval("SELECT count(*) FROM access_log"))
