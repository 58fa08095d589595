"""The write scenarios: the bulk load against COPY + one spatial UPDATE, and recordActivities
in batches of 500 from 4 clients at once, with every row counted afterwards."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bench import queries, sql
from bench.client import GraphQL, Http
from bench.context import Bench
from bench.database import admin_headers
from bench.report import Goal, Row
from bench.stats import summarize
from geo.catalog import SERVICES
from geo.db import server_settings
from geo.periods import WIB

BATCH = 500
CLIENTS = 4
# The judged reference's copies lie this much earlier, so that no judgement sees another's rows.
JUDGED_SHIFT = timedelta(days=40)
SETTLE_S = 60       # the longest a timed side waits for the database to be quiet
# What is still at work in the database: autovacuum, access-log journal rows Jangkau has not
# written out yet (after the lookup scenario's flood, up to a second of them), and statements of
# other clients (a peer's queries from the 64-client row run on for seconds after its load).
BUSY = """
    SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')
         + (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
            AND state = 'active' AND pid <> pg_backend_pid())
         + (SELECT count(*) FROM access_log_journal) + (SELECT count(*) FROM access_log_pages)
"""


async def settle(conn: asyncpg.Connection) -> float:
    """Before each timed side of the recording and lookup rows: a checkpoint, then a wait
    (SETTLE_S at most) until nothing of what ran before is still at work, so that the side
    timed first (Jangkau) does not pay for the scenario before it. Returns the seconds
    waited."""
    t0 = time.perf_counter()
    await conn.execute("CHECKPOINT")
    while time.perf_counter() - t0 < SETTLE_S and await conn.fetchval(BUSY):
        await asyncio.sleep(0.5)
    return time.perf_counter() - t0


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


def _activity(rng: random.Random, staff: list[str], day0: datetime,
              days_back: tuple[int, int]) -> dict[str, Any]:
    svc = SERVICES[rng.randrange(len(SERVICES))]
    started = day0 - timedelta(days=rng.randint(*days_back), minutes=rng.randint(0, 480))
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


def _raw_row(item: dict[str, Any], shift: timedelta = timedelta(0)) -> tuple[Any, ...]:
    """An ActivityInput as the reference's INSERT parameters, under a new id, `shift` earlier."""
    started = datetime.fromisoformat(item["startedAt"]) - shift
    lon, lat = item["location"]["coordinates"]
    return (uuid.uuid4(), uuid.UUID(item["staffId"]), item["category"], started,
            datetime.fromisoformat(item["endedAt"]) - shift, None, lon, lat,
            item["accuracyMeters"], False, item["citizensServed"], item["outcome"],
            item["outcomeMet"], None)


async def _raw_client(url: str, batches: list[list[tuple[Any, ...]]], judge: bool) -> int:
    """The reference's client: each batch one transaction of `executemany`, and with `judge`
    the batch's `activity_flags_refresh` before COMMIT. Row triggers upsert rollup rows, so
    concurrent batches can deadlock (detected after 20 ms rather than the server's 1 s): the
    batch is then sent again alone, holding exclusively the lock that first attempts hold
    shared, so it cannot deadlock twice. Returns how many batches were sent again."""
    settings = {**server_settings(0), "deadlock_timeout": "20ms"}
    conn = await asyncpg.connect(url, server_settings=settings)
    retries = 0
    try:
        for rows in batches:
            alone = False
            while True:
                try:
                    async with conn.transaction():
                        await conn.execute(sql.RECORD_ALONE if alone else sql.RECORD_TOGETHER)
                        await conn.executemany(sql.RECORD_INSERT, rows)
                        if judge:
                            await conn.execute(sql.RECORD_JUDGE, [r[0] for r in rows])
                    break
                except asyncpg.DeadlockDetectedError:
                    retries += 1
                    alone = True
    finally:
        await conn.close()
    return retries


async def _in_rollup_order(conn: asyncpg.Connection,
                           batches: list[list[tuple[Any, ...]]]) -> list[list[tuple[Any, ...]]]:
    """Each batch sorted by its rows' per-day rollup key (WIB day, kelurahan, category,
    outcome), the kelurahan looked up beforehand (untimed), so that concurrent writers take
    those rollup rows in one order; unsorted, they deadlock on nearly every batch."""
    rows = [r for batch in batches for r in batch]
    areas = dict(await conn.fetch(sql.RECORD_AREAS, [r[0] for r in rows], [r[6] for r in rows],
                                  [r[7] for r in rows]))

    def key(r: tuple[Any, ...]) -> tuple[Any, ...]:
        return (r[3].astimezone(WIB).date(), areas[r[0]] or 0, r[2], r[11] or "", r[1])

    return [sorted(batch, key=key) for batch in batches]


async def _raw_reference(conn: asyncpg.Connection, url: str, sent: list[list[list[dict[str, Any]]]],
                         judge: bool) -> tuple[float, int, int]:
    """Seconds for CLIENTS connections to write copies of the `sent` batches at once, their
    retries and the rows they stored; then the copies are deleted again (untimed), so that
    the database holds what Jangkau wrote. Judged copies lie JUDGED_SHIFT earlier, among
    other neighbours than Jangkau's rows."""
    shift = JUDGED_SHIFT if judge else timedelta(0)
    raw = [await _in_rollup_order(conn, [[_raw_row(i, shift) for i in items] for items in client])
           for client in sent]
    before = await conn.fetchval(sql.COUNT)
    await settle(conn)
    t0 = time.perf_counter()
    retries = await asyncio.gather(*(_raw_client(url, batches, judge) for batches in raw))
    seconds = time.perf_counter() - t0
    stored = await conn.fetchval(sql.COUNT) - before
    await conn.execute(sql.RECORD_DELETE, [r[0] for c in raw for rows in c for r in rows])
    return seconds, sum(retries), stored


async def record_activities(b: Bench) -> Row:
    row = Row("record_activities", f"recordActivities, batches of {BATCH}, {CLIENTS} clients",
              "the same rows under new ids, asyncpg `executemany` of one INSERT per row "
              f"({CLIENTS} connections, a transaction per batch; triggers included, no flags "
              "judged)", "activities/s",
              Goal("≥ 5,000 activities/s and ≥ 0.8× reference, none lost, rollups exact",
                   "ratio", ">=", 0.8, floor=5000))
    staff = [r for (r,) in await b.conn.fetch("SELECT id::text FROM staff ORDER BY id")]
    rng = random.Random(b.opts.seed)
    day0 = datetime(b.opts.until.year, b.opts.until.month, b.opts.until.day, 9, tzinfo=WIB)
    sent: list[list[list[dict[str, Any]]]] = []

    def batch() -> bytes:
        items = [_activity(rng, staff, day0, b.opts.record_days_back) for _ in range(BATCH)]
        sent[-1].append(items)
        return GraphQL.body(queries.RECORD, {"inputs": items})

    sent.append([])
    began = await b.conn.fetchval("SELECT clock_timestamp()")
    warm, _ = _send(b.jangkau.port, [batch()])
    per_client = []
    for _ in range(CLIENTS):
        sent.append([])
        per_client.append([batch() for _ in range(b.opts.record_batches)])
    total = CLIENTS * b.opts.record_batches * BATCH
    before = await b.conn.fetchval(sql.COUNT)
    settled = await settle(b.conn)
    with ThreadPoolExecutor(CLIENTS) as pool:
        t0 = time.perf_counter()
        answers = list(pool.map(lambda bodies: _send(b.jangkau.port, bodies), per_client))
        seconds = time.perf_counter() - t0
    stored = await b.conn.fetchval(sql.COUNT) - before
    statuses = warm + [s for client, _ in answers for s in client]
    refused = sum(s != "CREATED" for s in statuses)
    batches = summarize([s for _, client in answers for s in client])

    ref_seconds, retries, ref_stored = await _raw_reference(b.conn, b.url, sent[1:], False)
    judged_seconds, judged_retries, judged_stored = await _raw_reference(b.conn, b.url, sent[1:],
                                                                         True)
    near, far = b.opts.record_days_back
    first_day = b.opts.until - timedelta(days=far + 1) - JUDGED_SHIFT
    last_day = b.opts.until - timedelta(days=near - 1)
    drift = await b.conn.fetchval(sql.ROLLUP_DRIFT, first_day, last_day)
    # Jangkau's rows deleted too (untimed), as the references' are: the next run on this
    # database (bench.record) finds these days as this one did.
    forgotten = int((await b.conn.execute(sql.RECORDED_DELETE, began, b.opts.until)).split()[-1])

    row.jangkau = {"value": round(total / seconds, 1), "activities": total,
                   "seconds": round(seconds, 3), "stored": stored, "lost": total - stored,
                   "rollup_drift": drift, "deleted": forgotten,
                   "batch_p50_ms": round(batches.p50, 3),
                   "batch_p95_ms": round(batches.p95, 3)}
    row.ref = {"value": round(total / ref_seconds, 1), "seconds": round(ref_seconds, 3),
               "stored": ref_stored, "judged_value": round(total / judged_seconds, 1),
               "judged_seconds": round(judged_seconds, 3), "judged_stored": judged_stored}
    row.errors = (refused + abs(total - stored) + drift + abs(total - ref_stored)
                  + abs(total - judged_stored))
    row.note = (f"{total:,} activities in {CLIENTS * b.opts.record_batches} batches (after one "
                f"warm-up batch, a checkpoint and {settled:.1f} s for the database to be quiet, "
                f"as before each reference); {stored:,} new rows counted after, {refused} not "
                "CREATED; "
                f"rollups of those days against the base table: {drift} rows differ; then "
                f"deleted ({forgotten:,} rows). Reference: {ref_stored:,} rows in "
                f"{ref_seconds:.1f} s ({retries} batches sent again after a deadlock), then "
                "deleted. The same work as Jangkau's, "
                "flags included (the reference plus `activity_flags_refresh` of each batch "
                f"before its COMMIT, rows {JUDGED_SHIFT.days} days earlier): "
                f"{total / judged_seconds:,.0f} activities/s, {judged_retries} batches sent "
                f"again; Jangkau is {total / seconds / (total / judged_seconds):.2f}× that.")
    return row.finish()
