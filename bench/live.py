"""`python -m bench.live`: live delivery under load, one API process.

Opens `--subscribers` WebSocket subscriptions (graphql-transport-ws) and `--sse` Server-Sent-Event
subscriptions of `activityRecorded`, each filtered to one kecamatan as a camat's or a unit
supervisor's map would be (so a subscriber sees about 1/31 of the city's activity), then records
`--rate` activities a second for `--seconds` through `recordActivities`, from `--writers` clients
each sending batches of `--batch` in a process of their own, and reports: delivery latency from
the write's `receivedAt` (its transaction's start: an upper bound of the time from commit) to the
subscriber's receipt, p50/p99; activities lost and duplicated per subscriber against what its
filter should have delivered; each recordActivities call's time as the writers saw it; the
server's peak RSS and CPU, and the bench clients' CPU. With `--pin`, the server runs on CPU 0 and
the bench's clients on CPU 1 (sched_setaffinity, as `taskset` does; PostgreSQL is not pinned).
The database (`--database`, default `jangkau_bench_live`) on the bench's server is recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

from bench import database
from bench.config import Options
from bench.run import start_jangkau
from graph.auth import mint

SUBSCRIBE = """subscription($area: String!) {
    activityRecorded(filter: {areaCode: $area}) { id receivedAt area { code } } }"""
RECORD = """mutation($i: [ActivityInput!]!) { recordActivities(inputs: $i) { status } }"""
DAY = date(2026, 11, 27)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100     # utime + stime, in clock ticks


def run_delay_seconds(pid: int) -> float:
    """Time the process's threads were ready to run but waited for a CPU (schedstat)."""
    return sum(int(Path(t, "schedstat").read_text().split()[1])
               for t in Path(f"/proc/{pid}/task").iterdir()) / 1e9


class Tally:
    def __init__(self) -> None:
        self.got: dict[int, Counter[str]] = defaultdict(Counter)
        self.latency: list[float] = []
        self.arrivals: list[tuple[str, float]] = []

    def note(self, sub: int, node: dict[str, Any]) -> None:
        self.got[sub][node["id"]] += 1
        now = time.time()
        self.latency.append(now - datetime.fromisoformat(node["receivedAt"]).timestamp())
        self.arrivals.append((node["id"], now))


WAITS = """SELECT coalesce(wait_event_type || ':' || wait_event, 'running'),
                  left(regexp_replace(ltrim(query), '\s+', ' ', 'g'), 48)
           FROM pg_stat_activity
           WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"""


async def sample_waits(conn: asyncpg.Connection, until: asyncio.Future[Any],
                       seen: Counter[str]) -> None:
    """What the database's active sessions are doing, sampled every 50 ms while the writes
    run: where the writers' (and the feed's) time goes inside PostgreSQL."""
    while not until.done():
        for wait, query in await conn.fetch(WAITS):
            if wait != "Client:ClientRead":
                seen[f"[{query}] {wait}"] += 1
        seen["(samples)"] += 1
        await asyncio.sleep(0.05)


def _token(i: int) -> str:
    return mint(database.BENCH_SECRET, role="admin", sub=f"bench-live-{i}", ttl_s=3600)


async def ws_subscriber(url: str, i: int, area: str, tally: Tally, ready: asyncio.Event,
                        n_ready: list[int], total: int) -> None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"],
                                  max_queue=None) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {_token(i)}"}}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": SUBSCRIBE, "variables": {"area": area}}}))
        n_ready[0] += 1
        if n_ready[0] == total:
            ready.set()
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "next":
                tally.note(i, msg["payload"]["data"]["activityRecorded"])


async def sse_subscriber(base: str, i: int, area: str, tally: Tally, ready: asyncio.Event,
                         n_ready: list[int], total: int) -> None:
    headers = {"Authorization": f"Bearer {_token(i)}", "Accept": "text/event-stream"}
    body = {"query": SUBSCRIBE, "variables": {"area": area}}
    async with httpx.AsyncClient(base_url=base, timeout=None) as http, \
            http.stream("POST", "/graphql", json=body, headers=headers) as r:
        n_ready[0] += 1
        if n_ready[0] == total:
            ready.set()
        async for line in r.aiter_lines():
            if line.startswith("data: {"):
                tally.note(i, json.loads(line[6:])["data"]["activityRecorded"])


# id -> (its kecamatan, when its writer had the answer: after its commit)
Sent = dict[str, tuple[str, float]]
Written = tuple[Sent, list[float], float]


def write_all(base: str, rate: int, seconds: float, places: list[tuple[str, str, float, float]],
              staff: list[str], clients: int, batch: int, cpu: int | None) -> Written:
    """The writers' process: what was stored (id -> kecamatan), each call's seconds, and this
    process's CPU seconds."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sent, calls = asyncio.run(writers(base, rate, seconds, places, staff, clients, batch))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return sent, calls, usage.ru_utime + usage.ru_stime


async def writers(base: str, rate: int, seconds: float,
                  places: list[tuple[str, str, float, float]], staff: list[str],
                  clients: int, batch: int) -> tuple[Sent, list[float]]:
    """Record `rate`/s for `seconds` from `clients` writers at once (one alone cannot keep up
    with its own round trips); returns id -> kecamatan code of what was stored, and the time of
    each call."""
    parts = await asyncio.gather(*(writer(base, rate / clients, seconds, places[i::clients],
                                          staff[i::clients], batch) for i in range(clients)))
    return ({k: v for sent, _ in parts for k, v in sent.items()},
            [t for _, calls in parts for t in calls])


async def writer(base: str, rate: float, seconds: float,
                 places: list[tuple[str, str, float, float]], staff: list[str],
                 per_batch: int) -> tuple[Sent, list[float]]:
    """Record `rate`/s for `seconds`, `per_batch` a call, one call at a time."""
    sent: Sent = {}
    calls: list[float] = []
    headers = {"Authorization": f"Bearer {_token(-1)}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as http:
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < seconds:
            batch = []
            for _ in range(per_batch):
                kec, _kel, lon, lat = places[n % len(places)]
                aid = str(uuid.uuid4())
                sent[aid] = (kec, 0.0)
                batch.append({"id": aid, "staffId": staff[n % len(staff)], "category":
                              "POSYANDU", "startedAt": f"{DAY}T09:00:00+07:00",
                              "location": {"type": "Point", "coordinates": [lon, lat]},
                              "citizensServed": 1, "outcomeMet": True})
                n += 1
            t = time.monotonic()
            r = await http.post("/graphql", json={"query": RECORD, "variables": {"i": batch}})
            calls.append(time.monotonic() - t)
            acked = time.time()
            for item in batch:
                sent[item["id"]] = (sent[item["id"]][0], acked)
            statuses = {x["status"] for x in r.json()["data"]["recordActivities"]}
            if statuses != {"CREATED"}:
                raise RuntimeError(f"recording failed: {r.text[:300]}")
            await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
    return sent, calls


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of `values` (seconds), in milliseconds."""
    v = sorted(values) or [0.0]

    def at(q: float) -> float:
        return v[min(len(v) - 1, int(q * len(v)))] * 1000

    return at(0.5), at(0.99), at(1.0)


async def main(a: argparse.Namespace) -> None:
    url = database.with_database(database.server_url(), a.database)
    await database.recreate(database.with_database(url, "postgres"), a.database)
    await database.prepare(Options(activities=a.activities), url)
    conn = await asyncpg.connect(url)
    try:
        places = [(r["kec"], r["code"], r["x"], r["y"]) for r in await conn.fetch("""
            SELECT k.code AS kec, a.code, ST_X(a.label_point) AS x, ST_Y(a.label_point) AS y
            FROM areas a JOIN areas k ON k.id = a.parent_id
            WHERE a.level = 'KELURAHAN' ORDER BY a.code""")]
        staff = [str(r[0]) for r in await conn.fetch(
            "SELECT s.id FROM staff s JOIN units u ON u.id = s.unit_id WHERE u.code = 'DINKES'")]
    finally:
        await conn.close()
    kecamatan = sorted({p[0] for p in places})
    log_dir = Path(tempfile.mkdtemp(prefix="jangkau-bench-live-"))
    server = start_jangkau(url, log_dir)
    server_cpu, client_cpu = (0, 1) if a.pin else (None, None)
    if a.pin:
        os.sched_setaffinity(server.pid, {0})
        os.sched_setaffinity(0, {1})
    base = f"http://127.0.0.1:{server.port}"
    tally, ready, n_ready = Tally(), asyncio.Event(), [0]
    total = a.subscribers + a.sse
    areas = {i: kecamatan[i % len(kecamatan)] for i in range(total)}
    try:
        tasks = []
        for i in range(total):
            tasks.append(asyncio.create_task(ws_subscriber(
                base.replace("http", "ws") + "/graphql", i, areas[i], tally, ready, n_ready,
                total) if i < a.subscribers else sse_subscriber(
                base, i, areas[i], tally, ready, n_ready, total)))
            if i % 50 == 49:
                # In waves: a thousand handshakes at once outlast the server's header timeout
                # on a busy machine.
                await asyncio.sleep(0.5)
        if total:
            async with asyncio.timeout(120):
                await ready.wait()
        await asyncio.sleep(2)             # the last subscribe messages reach the hub
        cpu0, wall0, peak = cpu_seconds(server.pid), time.monotonic(), server.rss_mb()
        mine0, waited0 = cpu_seconds(os.getpid()), run_delay_seconds(server.pid)
        # The writers run in a process of their own: in this one they would wait behind the
        # subscribers' thousand sockets and the rate would be the client's, not the server's.
        pool = ProcessPoolExecutor(1)
        write = asyncio.get_running_loop().run_in_executor(
            pool, write_all, base, a.rate, a.seconds, places, staff, a.writers, a.batch,
            client_cpu)
        waits: Counter[str] = Counter()
        watcher = await asyncpg.connect(url)
        sampler = asyncio.create_task(sample_waits(watcher, write, waits))
        while not write.done():
            peak = max(peak, server.rss_mb())
            await asyncio.sleep(0.5)
        await sampler
        await watcher.close()
        sent, calls, writers_cpu = write.result()
        pool.shutdown()
        await asyncio.sleep(3)             # what is in flight arrives
        wall = time.monotonic() - wall0
        cpu = (cpu_seconds(server.pid) - cpu0) / wall
        waited = (run_delay_seconds(server.pid) - waited0) / wall
        subscribers_cpu = (cpu_seconds(os.getpid()) - mine0) / wall
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()
    lost = dup = expected = 0
    for i in range(total):
        want = {aid for aid, (kec, _) in sent.items() if kec == areas[i]}
        got = tally.got[i]
        expected += len(want)
        lost += len(want - set(got))
        dup += sum(c - 1 for c in got.values() if c > 1)
    lat = sorted(tally.latency)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    c50, c99, cmax = percentiles(calls)
    a50, a99, amax = percentiles([at - sent[aid][1] for aid, at in tally.arrivals if aid in sent])
    samples = waits.pop("(samples)", 0) or 1
    print(f"subscribers: {a.subscribers} WebSocket + {a.sse} SSE, one kecamatan each; "
          f"{len(sent)} activities in {a.seconds:.0f} s ({len(sent) / a.seconds:.0f}/s of the "
          f"{a.rate}/s asked)")
    print(f"writes: {len(calls)} recordActivities calls of {a.batch} from {a.writers} writers; "
          f"call time p50 {c50:.0f} ms, p99 {c99:.0f} ms, max {cmax:.0f} ms, "
          f"mean {statistics.fmean(calls) * 1000 if calls else 0:.0f} ms")
    print(f"deliveries: {len(lat)} of {expected} expected; lost {lost}; duplicated {dup}")
    print(f"latency from receivedAt: p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, "
          f"max {p(1.0):.0f} ms, mean {statistics.fmean(lat) * 1000 if lat else 0:.0f} ms")
    print(f"latency from the writer's answer (after the commit; negative: delivered before "
          f"the answer): p50 {a50:.0f} ms, p99 {a99:.0f} ms, max {amax:.0f} ms")
    print("database sessions of this run, average active while writing: " + ", ".join(
        f"\n  {what} {n / samples:.2f}" for what, n in waits.most_common(8)))
    print(f"server: peak RSS {peak:.0f} MB, CPU {cpu * 100:.0f} % of one core"
          + (" (pinned to CPU 0; bench clients on CPU 1)" if a.pin else "")
          + f"; ready but waiting for a CPU {waited * 100:.0f} % of the time"
          + (f"; {cpu * wall / len(lat) * 1e6:.0f} µs of CPU per delivery" if lat else ""))
    print(f"bench clients: subscribers' process {subscribers_cpu * 100:.0f} % of one core, "
          f"writers' process {writers_cpu / a.seconds * 100:.0f} %")


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--sse", type=int, default=64)
    p.add_argument("--rate", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--activities", type=int, default=10_000, help="demo activities loaded first")
    p.add_argument("--writers", type=int, default=4, help="concurrent recordActivities clients")
    p.add_argument("--batch", type=int, default=10, help="activities per recordActivities call")
    p.add_argument("--pin", action="store_true",
                   help="server on CPU 0, the bench's clients on CPU 1")
    p.add_argument("--database", default="jangkau_bench_live")
    asyncio.run(main(p.parse_args()))
