"""Faults, against a throwaway PostgreSQL cluster of this module and the real server process.

Three scenarios: the server killed (`kill -9`) in the middle of batches, PostgreSQL restarted
(`pg_ctl restart -m fast`) under load, and PostgreSQL frozen (SIGSTOP) for longer than the
request bound. After each: every acknowledged item is stored exactly once, resending answers
DUPLICATE for what is stored and CREATED for the rest, and the rollups equal the base table.
During the outages every request is answered within the bound, with a coded error.

The timeouts are set small here (see SERVER_ENV) so each scenario takes a few seconds; the
assertion on answer times is a correctness bound (the request bound plus a generous margin for
two shared cores), not a performance figure. The worst answer time is printed (`-s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import text

from geo import cluster, migrate
from geo.boundaries import import_areas
from geo.coverage import coverage
from geo.db import create_engine
from geo.demo import BOUNDARY_FILES
from geo.periods import Period
from geo.settings import Settings
from tests import dbs
from tests.payloads import RECORD_MANY, activity
from tests.process import Server, free_port
from tests.seed import seed
from tests.tokens import bearer, token
from tests.waits import within

# JANGKAU_CHAOS_DEFAULTS=1 runs the scenarios with the shipped timeouts (slower: a 21 s freeze),
# to measure the worst answer time under the defaults (bench/README.md, "Faults").
DEFAULTS = os.environ.get("JANGKAU_CHAOS_DEFAULTS") == "1"
REQUEST_BOUND_S = Settings().request_timeout_s if DEFAULTS else 2.0
MARGIN_S = 3.0           # scheduling on two shared cores, the client's own overhead
RESUME_S = 2.0           # the same server serves again this soon after the database is back
BATCH = 8
RESEND = 400
SERVER_ENV = {} if DEFAULTS else {
    "JANGKAU_REQUEST_TIMEOUT_S": str(REQUEST_BOUND_S),
    "JANGKAU_STATEMENT_TIMEOUT_MS": "1000",
    "JANGKAU_CONNECT_TIMEOUT_S": "0.5",
    "JANGKAU_POOL_TIMEOUT_S": "0.5",
    "JANGKAU_READY_TIMEOUT_S": "1",
    "JANGKAU_POOL_SIZE": "4",
}
READ = """{ coverage(level: KELURAHAN, period: {from: "2026-10-01", to: "2026-10-31"}) {
    area { code } activities } }"""
OUTAGE = "DATABASE_UNAVAILABLE"
_ids = itertools.count(500_000)


@dataclass(frozen=True)
class Db:
    cluster: cluster.Cluster
    url: str

    def postmaster(self) -> int:
        return int((self.cluster.data_dir / "postmaster.pid").read_text().split()[0])

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        main = self.postmaster()
        pids = [main]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == main:
                pids.append(int(stat.parent.name))
        return pids

    def signal(self, sig: signal.Signals) -> None:
        """The postmaster first, then the processes it started, listed after: a backend it
        forked while the list was read would otherwise run on among frozen ones (and answer
        with its own statement timeout)."""
        os.kill(self.postmaster(), sig)
        for pid in self.pids()[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


@pytest.fixture(scope="module")
def db() -> Iterator[Db]:
    """A cluster of its own (it gets restarted and frozen): migrated, boundaries, the seed.
    Not under pytest's temporary directory, which the `postgres` user may not enter."""
    home = Path(tempfile.mkdtemp(prefix="jangkau-chaos-"))
    c = cluster.Cluster(home / "pgdata", free_port())
    d = Db(c, f"postgresql://postgres@127.0.0.1:{c.port}/jangkau")
    try:
        cluster.start(c)
        migrate.upgrade(d.url)

        async def fill() -> None:
            engine = create_engine(d.url, pool_size=1)
            async with engine.connect() as conn:
                await import_areas(conn, BOUNDARY_FILES)
                await seed(conn)
            await engine.dispose()

        dbs.run_sync(fill)
        yield d
    finally:
        if (c.data_dir / "postmaster.pid").exists():
            d.signal(signal.SIGCONT)
        cluster.stop(c)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Answer:
    kind: str
    began: float
    seconds: float
    status: int                 # 0: no HTTP answer (the server was gone)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def codes(self) -> set[str]:
        return {e["extensions"]["code"] for e in self.body.get("errors", [])}


@dataclass
class Load:
    """Clients writing batches and reading coverage until told to stop, recording every answer."""

    base: str
    answers: list[Answer] = field(default_factory=list)
    sent: list[list[dict[str, Any]]] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _call(self, client: httpx.AsyncClient, kind: str, body: dict[str, Any]) -> Answer:
        began = time.monotonic()
        try:
            r = await client.post("/graphql", json=body)
            answer = Answer(kind, began, time.monotonic() - began, r.status_code, r.json())
        except httpx.TransportError:
            answer = Answer(kind, began, time.monotonic() - began, 0)
        self.answers.append(answer)
        return answer

    async def writer(self) -> None:
        async with _client(self.base) as client:
            while not self.stop.is_set():
                batch = [activity(next(_ids)) for _ in range(BATCH)]
                self.sent.append(batch)
                a = await self._call(client, "write", {"query": RECORD_MANY,
                                                       "variables": {"i": batch}})
                if a.status == 200 and not a.codes:
                    results = a.body["data"]["recordActivities"]
                    assert all(r["status"] == "CREATED" for r in results), results
                    self.acked |= {r["id"] for r in results}
                elif a.status == 0:
                    await asyncio.sleep(0.05)

    async def reader(self) -> None:
        async with _client(self.base) as client:
            while not self.stop.is_set():
                a = await self._call(client, "read", {"query": READ})
                if a.status == 0:
                    await asyncio.sleep(0.05)

    async def run(self, writers: int = 2, readers: int = 2) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(w()) for w in
                [self.writer] * writers + [self.reader] * readers]

    def ids(self) -> list[str]:
        return [item["id"] for batch in self.sent for item in batch]


def _client(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers=bearer(token("admin")), timeout=30)


@pytest.fixture(scope="module")
def server(db: Db, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server process through the restart and the freeze: it must outlive both."""
    s = Server(db.url, tmp_path_factory.mktemp("server") / "server.log", SERVER_ENV)
    yield s
    s.stop()


async def _rows(db: Db, ids: list[str]) -> dict[str, int]:
    """How many rows each id has."""
    engine = create_engine(db.url, pool_size=1)
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id::text, count(*) FROM activities WHERE id = ANY(CAST(:ids AS uuid[])) "
            "GROUP BY id"), {"ids": ids})).all()
    await engine.dispose()
    return {r[0]: r[1] for r in rows}


async def _rollups_exact(db: Db) -> None:
    engine = create_engine(db.url, pool_size=1)
    async with engine.connect() as conn:
        total = await conn.scalar(text("SELECT sum(activities) FROM rollup_area_day"))
        counted = await conn.scalar(text(
            "SELECT count(*) FROM activities WHERE review IN ('NONE', 'ACCEPTED')"))
        assert total == counted > 0
        period = Period(date(2026, 10, 1), date(2026, 10, 31))
        for level in ("KELURAHAN", "CITY"):
            assert (await coverage(conn, level, period, None) ==
                    await coverage(conn, level, period, None, rollups=False))
    await engine.dispose()


async def _stored_once_and_resend(db: Db, server: Server, load: Load) -> None:
    """Acknowledged items stored exactly once; a resend of every batch answers DUPLICATE for
    what is stored and CREATED for the rest; afterwards every item is stored exactly once."""
    ids = load.ids()
    before = await _rows(db, ids)
    assert load.acked and load.acked <= set(before)
    assert set(before.values()) == {1}
    items = [item for batch in load.sent for item in batch]
    async with _client(server.base) as client:
        for start in range(0, len(items), RESEND):   # as an offline phone would: in big batches
            r = await client.post("/graphql", json={"query": RECORD_MANY, "variables": {
                "i": items[start:start + RESEND]}})
            assert r.status_code == 200, r.text
            for result in r.json()["data"]["recordActivities"]:
                expected = "DUPLICATE" if result["id"] in before else "CREATED"
                assert (result["id"], result["status"]) == (result["id"], expected)
    after = await _rows(db, ids)
    assert set(after) == set(ids) and set(after.values()) == {1}
    await _rollups_exact(db)


def _first_traceback(server: Server) -> str:
    """The server log's first traceback whole, with the lines before it: what a failure shows
    (the module's tests share one server, so later ones find an earlier test's too)."""
    log = server.log.read_text()
    start = log.find("Traceback")
    return log[max(0, start - 500):start + 5000] if start >= 0 else ""


def _no_traceback(server: Server) -> None:
    assert "Traceback" not in server.log.read_text(), _first_traceback(server)


async def _serves_again(server: Server, since: float) -> float:
    """Seconds from `since` until a read answers in full."""
    async with _client(server.base) as client:
        while True:
            r = await client.post("/graphql", json={"query": READ})
            if r.status_code == 200 and "errors" not in r.json():
                return time.monotonic() - since
            assert time.monotonic() - since < 30, r.text
            await asyncio.sleep(0.05)


def _within_bound(answers: list[Answer]) -> float:
    worst = max(a.seconds for a in answers)
    assert worst <= REQUEST_BOUND_S + MARGIN_S, worst
    return worst


async def test_server_killed_mid_batch(db: Db, tmp_path: Path) -> None:
    first = Server(db.url, tmp_path / "first.log", SERVER_ENV)
    load = Load(first.base)
    tasks = await load.run(writers=3, readers=0)
    while len(load.acked) < 3 * BATCH:
        await asyncio.sleep(0.02)
    first.kill()                    # while batches are in flight
    load.stop.set()
    await asyncio.gather(*tasks)
    assert any(a.status == 0 for a in load.answers)     # some batch was cut off
    second = Server(db.url, tmp_path / "second.log", SERVER_ENV)
    try:
        await _stored_once_and_resend(db, second, load)
    finally:
        second.stop()


async def test_database_restart_under_load(db: Db, server: Server) -> None:
    load = Load(server.base)
    tasks = await load.run()
    await asyncio.sleep(0.7)
    await asyncio.to_thread(cluster.restart, db.cluster)
    back = time.monotonic()
    await asyncio.sleep(1.0)
    load.stop.set()
    await asyncio.gather(*tasks)
    for a in load.answers:
        # Every answer is whole or a coded outage; none is a bug.
        assert a.status in (200, 503), (a.status, a.body)
        assert a.status == 200 or a.codes == {OUTAGE}, a.body
        assert not a.codes or a.codes == {OUTAGE}, (a.body, _first_traceback(server))
    # Once the database is back, no stale pooled connection fails a read.
    after = [a for a in load.answers if a.kind == "read" and a.began > back + 0.2]
    assert after and all(a.status == 200 and not a.codes for a in after), \
        [a.body for a in after if a.codes]
    _within_bound(load.answers)
    await _stored_once_and_resend(db, server, load)
    _no_traceback(server)


@pytest.mark.parametrize("kind", ["page", "lookups"])
async def test_a_fast_read_across_a_restart_is_whole_or_a_coded_outage(
        db: Db, server: Server, kind: str) -> None:
    """graph.fastpage's pages and graph.fastpath's lookups go through a pool of their own (the
    primary's sessions that plan generically) and write their journal rows in their statement,
    lookups asked at once sharing one (geo.lookups): across a restart, each is answered whole
    or with the coded outage, never a 500, and whole again once the database is back."""
    page = "{ activities(first: 5) { edges { node { id location } } pageInfo { hasNextPage } } }"
    lookup = "query($id: ID!) { activity(id: $id) { id location } }"
    answers: list[httpx.Response] = []
    async with _client(server.base) as http:
        first = await http.post("/graphql", json={"query": page})      # a session is open
        assert first.status_code == 200 and "errors" not in first.json(), first.text
        ids = [e["node"]["id"] for e in first.json()["data"]["activities"]["edges"]]

        async def ask() -> list[httpx.Response]:
            if kind == "page":
                return [await http.post("/graphql", json={"query": page})]
            return list(await asyncio.gather(*(http.post("/graphql", json={
                "query": lookup, "variables": {"id": i}}) for i in ids)))

        def whole(rs: list[httpx.Response]) -> bool:
            return all(r.status_code == 200 and "errors" not in r.json() for r in rs)

        restart = asyncio.ensure_future(asyncio.to_thread(cluster.restart, db.cluster))
        while not restart.done():
            answers += await ask()
            await asyncio.sleep(0.02)
        await restart
        back = time.monotonic()
        while not whole(again := await ask()):
            answers += again
            assert time.monotonic() - back < RESUME_S + MARGIN_S, [r.text for r in again]
            await asyncio.sleep(0.05)
    for r in answers:
        assert r.status_code in (200, 503), r.text
        codes = {e["extensions"]["code"] for e in r.json().get("errors", [])}
        assert codes <= {OUTAGE} and (r.status_code == 200) == (not codes), r.text
    found = [r.json()["data"] for r in again]
    if kind == "page":
        assert len(found[0]["activities"]["edges"]) == 5
    else:
        assert [d["activity"]["id"] for d in found] == ids
    print(f"{kind} across a restart: {len(answers)} answers before it served again, "
          f"{sum(r.status_code == 503 for r in answers)} of them the coded outage")
    _no_traceback(server)


async def test_database_frozen_longer_than_the_bound(db: Db, server: Server) -> None:
    load = Load(server.base)
    tasks = await load.run()
    await asyncio.sleep(0.5)
    db.signal(signal.SIGSTOP)
    frozen = time.monotonic()
    ready: list[Answer] = []
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as probe:
        while time.monotonic() - frozen < 2 * REQUEST_BOUND_S + 1:
            began = time.monotonic()
            r = await probe.get("/readyz")
            ready.append(Answer("ready", began, time.monotonic() - began, r.status_code))
            await asyncio.sleep(0.2)
    db.signal(signal.SIGCONT)
    thawed = time.monotonic()
    resumed = await _serves_again(server, thawed)
    load.stop.set()
    await asyncio.gather(*tasks)

    during = [a for a in load.answers if frozen + 0.1 < a.began and a.began + a.seconds < thawed]
    assert during, "no request was made while the database was frozen"
    for a in during:
        assert (a.status, a.codes) == (503, {OUTAGE}), (a.status, a.body)
        assert "retry" in a.body["errors"][0]["message"]
    worst = _within_bound(load.answers)
    assert max(a.seconds for a in ready) <= 2.0
    assert all(a.status == 503 for a in ready if frozen + 0.1 < a.began)
    assert resumed <= RESUME_S, resumed
    print(f"\nfrozen database: worst answer {worst:.2f} s (bound {REQUEST_BOUND_S} s), "
          f"{len(load.answers)} requests, /readyz worst {max(a.seconds for a in ready):.2f} s, "
          f"served again {resumed:.2f} s after it resumed")
    await _stored_once_and_resend(db, server, load)
    _no_traceback(server)


async def test_a_live_subscriber_is_told_to_resync_after_a_restart(db: Db, server: Server) -> None:
    """The server's one LISTEN connection dies with the database: once it listens again, its
    subscribers get RESYNC_REQUIRED, and a resubscription with `since` misses nothing."""
    query = "subscription($since: DateTime) { activityRecorded(since: $since) { id receivedAt } }"
    url = server.base.replace("http://", "ws://") + "/graphql"

    async def record(n: int) -> str:
        one = activity(n)
        async with _client(server.base) as http:
            r = await http.post("/graphql", json={"query": RECORD_MANY, "variables": {"i": [one]}})
        assert r.json()["data"]["recordActivities"][0]["status"] == "CREATED", r.text
        return str(one["id"])

    async def message(ws: Any) -> dict[str, Any]:
        got: dict[str, Any] = json.loads(await within(ws.recv(), 30))
        return got

    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token('admin')}"}}))
        assert (await message(ws))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": query, "variables": {}}}))
        await asyncio.sleep(1.0)            # the subscribe message reaches the server's hub
        first = await record(next(_ids))
        seen = (await message(ws))["payload"]["data"]["activityRecorded"]
        assert seen["id"] == first
        await asyncio.to_thread(cluster.restart, db.cluster)
        told = await message(ws)
        errors = told["payload"] if told["type"] == "error" else told["payload"].get("errors")
        assert errors and errors[0]["extensions"]["code"] == "RESYNC_REQUIRED", told
        missed = await record(next(_ids))       # between the restart and the resubscription
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
            "query": query, "variables": {"since": seen["receivedAt"]}}}))
        again = await message(ws)
        while again.get("id") != "2":           # the first subscription's `complete`
            again = await message(ws)
        assert again["payload"]["data"]["activityRecorded"]["id"] == missed
    _no_traceback(server)
