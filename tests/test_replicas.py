"""Read replicas against a real streaming standby: a throwaway primary of this module and a
replica made from it with `pg_basebackup -R`, each a PostgreSQL of its own on its own port.

Reads of a query go to a usable replica; mutations, and what a mutation reads back, go to the
primary; a replica that lags more than JANGKAU_MAX_REPLICA_LAG or is down is skipped, and
/readyz says which is which."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from geo import cluster, migrate
from geo.boundaries import import_areas
from geo.db import create_engine
from geo.demo import BOUNDARY_FILES
from tests import dbs
from tests.conftest import Api, serve, settings_for
from tests.payloads import RECORD_ONE, activity
from tests.process import free_port
from tests.seed import seed
from tests.waits import within

COUNT = """{ coverage(level: CITY, period: {from: "2026-10-01", to: "2026-10-31"}) {
    activities } }"""


@dataclass(frozen=True)
class Pair:
    primary: cluster.Cluster
    replica: cluster.Cluster

    @staticmethod
    def url(c: cluster.Cluster) -> str:
        return f"postgresql://postgres@127.0.0.1:{c.port}/jangkau"


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    home = Path(tempfile.mkdtemp(prefix="jangkau-replica-"))
    p = Pair(cluster.Cluster(home / "primary" / "pgdata", free_port()),
             cluster.Cluster(home / "replica" / "pgdata", free_port()))
    try:
        cluster.start(p.primary)
        migrate.upgrade(Pair.url(p.primary))

        async def fill() -> None:
            engine = create_engine(Pair.url(p.primary), pool_size=1)
            async with engine.connect() as conn:
                await import_areas(conn, BOUNDARY_FILES)
                await seed(conn)
            await engine.dispose()

        dbs.run_sync(fill)
        cluster.replicate(p.primary, p.replica)
        yield p
    finally:
        for c in (p.replica, p.primary):
            cluster.stop(c)
        shutil.rmtree(home, ignore_errors=True)


async def on(c: cluster.Cluster, sql: str) -> None:
    conn = await asyncpg.connect(Pair.url(c))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def api(pair: Pair) -> AsyncIterator[Api]:
    settings = settings_for(Pair.url(pair.primary), read_urls=(Pair.url(pair.replica),),
                            max_replica_lag_s=0.5, connect_timeout_s=1.0)
    async for a in serve(settings):
        yield a


async def states(api: Api, want: str) -> None:
    """Wait until the one replica's check says `want` (checks run every second)."""
    replicas = api.http.app.state.replicas  # type: ignore[attr-defined]
    async def wait() -> None:
        while replicas.all[0].state != want:
            await asyncio.sleep(0.05)
    await within(wait(), 15)


async def activities(api: Api) -> int:
    n: int = (await api.data(COUNT))["coverage"][0]["activities"]
    return n


async def test_queries_are_served_by_the_replica_and_writes_by_the_primary(
        api: Api, pair: Pair) -> None:
    await states(api, "ok")
    before = await activities(api)
    ready = (await api.http.get("/readyz")).json()
    assert ready["replicas"][0]["state"] == "ok"
    cluster.stop(pair.primary)          # reads still answer: they are the replica's
    try:
        assert await activities(api) == before
        r = await api.http.post("/graphql", json={"query": RECORD_ONE,
                                                  "variables": {"i": activity(1)}})
        assert r.status_code == 503         # writes are the primary's alone
        assert r.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    finally:
        cluster.start(pair.primary)


async def test_a_lagging_replica_is_skipped_and_a_mutation_reads_its_own_write(
        api: Api, pair: Pair) -> None:
    await states(api, "ok")
    before = await activities(api)
    await on(pair.replica, "SELECT pg_wal_replay_pause()")
    try:
        result = (await api.data(RECORD_ONE, {"i": activity(2)}))["recordActivity"]
        # What the mutation answers was read from the primary, not the paused replica.
        assert result["status"] == "CREATED" and result["activity"]["id"] == activity(2)["id"]
        await states(api, "lagging")
        assert await activities(api) == before + 1       # the primary's figure
        ready = (await api.http.get("/readyz")).json()
        assert ready["replicas"][0]["state"] == "lagging"
    finally:
        await on(pair.replica, "SELECT pg_wal_replay_resume()")
    await states(api, "ok")
    assert await activities(api) == before + 1           # the replica caught up


async def test_a_replica_that_is_down_is_skipped(api: Api, pair: Pair) -> None:
    await states(api, "ok")
    before = await activities(api)
    cluster.stop(pair.replica)
    try:
        assert await activities(api) == before      # at once: a failed connect falls back
        await states(api, "down")
        assert (await api.http.get("/readyz")).json()["replicas"][0]["state"] == "down"
    finally:
        cluster.start(pair.replica)
    await states(api, "ok")
