"""`python -m bench.live`: live delivery under load, one API process.

Opens `--subscribers` WebSocket subscriptions (graphql-transport-ws) and `--sse` Server-Sent-Event
subscriptions of `activityRecorded`, each filtered to one kecamatan as a camat's or a unit
supervisor's map would be (so a subscriber sees about 1/31 of the city's activity), then records
`--rate` activities a second for `--seconds` through `recordActivities` (batches every 50 ms), and
reports: delivery latency from the write's `receivedAt` (its transaction's start: an upper bound
of the time from commit) to the subscriber's receipt, p50/p99; activities lost and duplicated
per subscriber against what its filter should have delivered; the server's peak RSS and CPU.
The database is `jangkau_bench_live` on the bench's server, recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


class Tally:
    def __init__(self) -> None:
        self.got: dict[int, Counter[str]] = defaultdict(Counter)
        self.latency: list[float] = []

    def note(self, sub: int, node: dict[str, Any]) -> None:
        self.got[sub][node["id"]] += 1
        sent = datetime.fromisoformat(node["receivedAt"]).timestamp()
        self.latency.append(time.time() - sent)


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


def write_all(base: str, rate: int, seconds: float,
              places: list[tuple[str, str, float, float]], staff: list[str]) -> dict[str, str]:
    return asyncio.run(writers(base, rate, seconds, places, staff))


async def writers(base: str, rate: int, seconds: float,
                  places: list[tuple[str, str, float, float]], staff: list[str],
                  clients: int = 4) -> dict[str, str]:
    """Record `rate`/s for `seconds` from `clients` writers at once (one alone cannot keep up
    with its own round trips); returns id -> kecamatan code of what was stored."""
    parts = await asyncio.gather(*(writer(base, rate / clients, seconds, places[i::clients],
                                          staff[i::clients]) for i in range(clients)))
    return {k: v for part in parts for k, v in part.items()}


async def writer(base: str, rate: float, seconds: float,
                 places: list[tuple[str, str, float, float]], staff: list[str]) -> dict[str, str]:
    """Record `rate`/s for `seconds`, a batch every 50 ms."""
    sent: dict[str, str] = {}
    per_batch = max(1, round(rate / 20))
    headers = {"Authorization": f"Bearer {_token(-1)}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as http:
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < seconds:
            batch = []
            for _ in range(per_batch):
                kec, _kel, lon, lat = places[n % len(places)]
                aid = str(uuid.uuid4())
                sent[aid] = kec
                batch.append({"id": aid, "staffId": staff[n % len(staff)], "category":
                              "POSYANDU", "startedAt": f"{DAY}T09:00:00+07:00",
                              "location": {"type": "Point", "coordinates": [lon, lat]},
                              "citizensServed": 1, "outcomeMet": True})
                n += 1
            r = await http.post("/graphql", json={"query": RECORD, "variables": {"i": batch}})
            statuses = {x["status"] for x in r.json()["data"]["recordActivities"]}
            if statuses != {"CREATED"}:
                raise RuntimeError(f"recording failed: {r.text[:300]}")
            await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
    return sent


async def main(a: argparse.Namespace) -> None:
    url = database.with_database(database.server_url(), "jangkau_bench_live")
    await database.recreate(database.with_database(url, "postgres"), "jangkau_bench_live")
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
    base = f"http://127.0.0.1:{server.port}"
    tally, ready, n_ready = Tally(), asyncio.Event(), [0]
    total = a.subscribers + a.sse
    areas = {i: kecamatan[i % len(kecamatan)] for i in range(total)}
    try:
        tasks = [asyncio.create_task(ws_subscriber(
            base.replace("http", "ws") + "/graphql", i, areas[i], tally, ready, n_ready, total))
            for i in range(a.subscribers)]
        tasks += [asyncio.create_task(sse_subscriber(base, i, areas[i], tally, ready, n_ready,
                                                     total))
                  for i in range(a.subscribers, total)]
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(2)             # the last subscribe messages reach the hub
        cpu0, wall0, peak = cpu_seconds(server.pid), time.monotonic(), server.rss_mb()
        # The writers run in a process of their own: in this one they would wait behind the
        # subscribers' thousand sockets and the rate would be the client's, not the server's.
        pool = ProcessPoolExecutor(1)
        write = asyncio.get_running_loop().run_in_executor(
            pool, write_all, base, a.rate, a.seconds, places, staff)
        while not write.done():
            peak = max(peak, server.rss_mb())
            await asyncio.sleep(0.5)
        sent = write.result()
        pool.shutdown()
        await asyncio.sleep(3)             # what is in flight arrives
        cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - wall0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()
    lost = dup = expected = 0
    for i in range(total):
        want = {aid for aid, kec in sent.items() if kec == areas[i]}
        got = tally.got[i]
        expected += len(want)
        lost += len(want - set(got))
        dup += sum(c - 1 for c in got.values() if c > 1)
    lat = sorted(tally.latency)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    print(f"subscribers: {a.subscribers} WebSocket + {a.sse} SSE, one kecamatan each; "
          f"{len(sent)} activities at {a.rate}/s for {a.seconds:.0f} s")
    print(f"deliveries: {len(lat)} of {expected} expected; lost {lost}; duplicated {dup}")
    print(f"latency from receivedAt: p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, "
          f"max {p(1.0):.0f} ms, mean {statistics.fmean(lat) * 1000 if lat else 0:.0f} ms")
    print(f"server: peak RSS {peak:.0f} MB, CPU {cpu * 100:.0f} % of one core")


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--sse", type=int, default=64)
    p.add_argument("--rate", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--activities", type=int, default=10_000, help="demo activities loaded first")
    asyncio.run(main(p.parse_args()))
