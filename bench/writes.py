"""The write scenarios: the bulk load against COPY + one spatial UPDATE, and recordActivities
in batches of 500 from 4 clients at once, with every row counted afterwards."""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from bench import queries, sql
from bench.client import GraphQL, Http
from bench.context import Bench
from bench.database import admin_headers
from bench.report import Goal, Row
from bench.stats import summarize
from geo.catalog import SERVICES
from geo.periods import WIB

BATCH = 500
CLIENTS = 4
# Recorded activities lie before the read scenarios' 90 days, so they change none of them.
RECORD_DAYS_BACK = (100, 130)


async def bulk_load(b: Bench) -> Row:
    """`jangkau demo load` against the same rows COPYed into a bare table and then assigned
    their kelurahan by one UPDATE ... FROM area_parts."""
    row = Row("bulk_load", f"bulk load of {b.opts.activities:,} activities with kelurahan",
              "COPY into a bare table + one UPDATE … FROM spatial join", "rows/s",
              Goal("rows/s ≥ 0.5× reference", "ratio", ">=", 0.5))
    conn = b.conn
    # Geometry travels as EWKB, untouched, both ways (binary COPY needs an encoder).
    await conn.set_type_codec("geometry", schema="public", encoder=bytes, decoder=bytes,
                              format="binary")
    records = await conn.fetch(sql.EXPORT)
    await conn.execute(sql.RAW_DROP)
    await conn.execute(sql.RAW_TABLE)
    t0 = time.perf_counter()
    await conn.copy_records_to_table("bench_raw_activities", records=records,
                                     columns=sql.RAW_COLUMNS)
    t1 = time.perf_counter()
    await conn.execute(sql.RAW_ASSIGN)
    t2 = time.perf_counter()
    n = len(records)
    del records
    ours_assigned = await conn.fetchval(sql.JANGKAU_ASSIGNED)
    theirs_assigned = await conn.fetchval(sql.RAW_ASSIGNED)
    await conn.execute(sql.RAW_DROP)
    await conn.reset_type_codec("geometry", schema="public")
    row.jangkau = {"value": round(n / b.load_seconds, 1), "seconds": round(b.load_seconds, 3)}
    row.ref = {"value": round(n / (t2 - t0), 1), "seconds": round(t2 - t0, 3),
               "copy_seconds": round(t1 - t0, 3), "update_seconds": round(t2 - t1, 3)}
    row.note = (f"Jangkau: the whole `jangkau demo load` command ({b.load_seconds:.1f} s: "
                "generating the rows in Python, staff and targets included); reference: COPY "
                f"{t1 - t0:.1f} s + UPDATE {t2 - t1:.1f} s of the exported rows. Assigned a "
                f"kelurahan: Jangkau {ours_assigned:,}, reference {theirs_assigned:,}.")
    if ours_assigned != theirs_assigned:
        row.errors = 1
    return row.finish()


def _activity(rng: random.Random, staff: list[str], day0: datetime) -> dict[str, Any]:
    svc = SERVICES[rng.randrange(len(SERVICES))]
    started = day0 - timedelta(days=rng.randint(*RECORD_DAYS_BACK), minutes=rng.randint(0, 480))
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "staffId": staff[rng.randrange(len(staff))],
        "category": svc.category,
        "startedAt": started.isoformat(),
        "endedAt": (started + timedelta(minutes=rng.randint(10, 90))).isoformat(),
        "location": {"type": "Point", "coordinates": [round(rng.uniform(112.65, 112.80), 6),
                                                      round(rng.uniform(-7.34, -7.22), 6)]},
        "accuracyMeters": round(rng.uniform(3, 40), 1),
        "citizensServed": rng.randint(0, 12),
        "outcome": svc.indicator,
        "outcomeMet": rng.random() < svc.met_rate,
    }


def _send(port: int, bodies: list[bytes]) -> tuple[list[str], list[float]]:
    """One client: its batches one after another; the status of every item, each batch's
    seconds."""
    http = Http(port, headers=admin_headers())
    statuses: list[str] = []
    seconds: list[float] = []
    try:
        api = GraphQL(http)
        for body in bodies:
            t0 = time.perf_counter()
            answer = api.post(body)["recordActivities"]
            seconds.append(time.perf_counter() - t0)
            statuses.extend(r["status"] for r in answer)
        return statuses, seconds
    finally:
        http.close()


async def record_activities(b: Bench) -> Row:
    row = Row("record_activities", f"recordActivities, batches of {BATCH}, {CLIENTS} clients",
              "—", "activities/s", Goal("≥ 5,000 activities/s, none lost", "value", ">=", 5000))
    staff = [r for (r,) in await b.conn.fetch("SELECT id::text FROM staff ORDER BY id")]
    rng = random.Random(b.opts.seed)
    day0 = datetime(b.opts.until.year, b.opts.until.month, b.opts.until.day, 9, tzinfo=WIB)

    def batch() -> bytes:
        items = [_activity(rng, staff, day0) for _ in range(BATCH)]
        return GraphQL.body(queries.RECORD, {"inputs": items})

    warm, _ = _send(b.jangkau.port, [batch()])
    per_client = [[batch() for _ in range(b.opts.record_batches)] for _ in range(CLIENTS)]
    total = CLIENTS * b.opts.record_batches * BATCH
    before = await b.conn.fetchval(sql.COUNT)
    with ThreadPoolExecutor(CLIENTS) as pool:
        t0 = time.perf_counter()
        answers = list(pool.map(lambda bodies: _send(b.jangkau.port, bodies), per_client))
        seconds = time.perf_counter() - t0
    stored = await b.conn.fetchval(sql.COUNT) - before
    statuses = warm + [s for client, _ in answers for s in client]
    refused = sum(s != "CREATED" for s in statuses)
    batches = summarize([s for _, client in answers for s in client])
    row.jangkau = {"value": round(total / seconds, 1), "activities": total,
                   "seconds": round(seconds, 3), "stored": stored, "lost": total - stored,
                   "batch_p50_ms": round(batches.p50, 3), "batch_p95_ms": round(batches.p95, 3)}
    row.errors = refused + abs(total - stored)
    row.note = (f"{total:,} activities in {CLIENTS * b.opts.record_batches} batches (after one "
                f"warm-up batch); {stored:,} new rows counted after, {refused} not CREATED.")
    return row.finish()
