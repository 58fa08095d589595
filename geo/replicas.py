"""Read replicas: which one may serve a read now.

Each replica (JANGKAU_READ_URLS) is checked every CHECK_EVERY_S on a connection of its own:
it must answer within the check's timeout, be in recovery (a standby, not a promoted or
misconfigured primary), and replay within JANGKAU_MAX_REPLICA_LAG of the primary. A replica
that fails a check is skipped until one passes; with none usable, reads go to the primary.
Lag is the age of the last replayed transaction while WAL is still waiting to be replayed
(unbounded when none was replayed yet), and 0 when the replica has replayed all it received (an
idle primary does not make it lag).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

CHECK_EVERY_S = 1.0
CHECK_TIMEOUT_S = 2.0
LAG = text("""
    SELECT pg_is_in_recovery(),
           CASE WHEN pg_last_wal_receive_lsn() IS NULL
                  OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()),
                              'Infinity') END""")


@dataclass
class Replica:
    url: str
    engine: AsyncEngine
    state: str = "unknown"          # ok | lagging | down | not a standby | unknown
    lag_s: float | None = None
    checked_at: float | None = None

    def describe(self) -> dict[str, object]:
        """For /readyz: never the URL's password."""
        host = self.url.split("@")[-1]
        lag = self.lag_s if self.lag_s is not None and math.isfinite(self.lag_s) else None
        return {"replica": host, "state": self.state,
                "lag_s": None if lag is None else round(lag, 3)}


class Replicas:
    def __init__(self, urls: tuple[str, ...], make_engine: Callable[[str], AsyncEngine],
                 max_lag_s: float) -> None:
        self.all = [Replica(u, make_engine(u)) for u in urls]
        self.max_lag_s = max_lag_s
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.all:
            await asyncio.gather(*(self._check(r) for r in self.all))
            self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for r in self.all:
            await r.engine.dispose()

    def pick(self) -> AsyncEngine | None:
        """A usable replica's engine, in turn; None when there is none."""
        usable = [r for r in self.all if r.state == "ok"]
        return usable[next(self._turn) % len(usable)].engine if usable else None

    def mark_down(self, engine: AsyncEngine) -> None:
        for r in self.all:
            if r.engine is engine:
                r.state = "down"

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            await asyncio.gather(*(self._check(r) for r in self.all))

    async def _check(self, r: Replica) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S), r.engine.connect() as conn:
                row = (await conn.execute(LAG)).one()
            standby, lag = bool(row[0]), float(row[1])
        except Exception:  # noqa: BLE001 - whatever the cause, this replica is not usable now
            r.state, r.lag_s = "down", None
        else:
            r.lag_s = lag
            r.state = ("not a standby" if not standby
                       else "lagging" if r.lag_s > self.max_lag_s else "ok")
        r.checked_at = time.time()


@asynccontextmanager
async def connect(engine: AsyncEngine, primary: AsyncEngine,
                  replicas: Replicas | None) -> AsyncIterator[AsyncConnection]:
    """A connection from `engine`; when a replica fails to connect, from the primary (and the
    replica is skipped until its next check passes)."""
    try:
        conn = await engine.connect()
    except Exception:
        if engine is primary or replicas is None:
            raise
        replicas.mark_down(engine)
        conn = await primary.connect()
    try:
        yield conn
    finally:
        await conn.close()
