"""The primary's one-statement reads and writes, straight on asyncpg connections (issue 13).

A lookup by id, a page of activities with its access-log journal row and the access log's
group commit are each one statement, in autocommit, planned generically. Through SQLAlchemy's
async pool, checking a connection out and back in cost more CPU than such a statement's whole
round trip (a lookup, one process: 0.27-0.34 ms with the checkout against 0.09-0.11 ms for the
statement alone). Nothing of SQLAlchemy is needed for these: no transaction, no ORM, no reset
(a one-statement session changes nothing a reset would undo).

Its sessions carry the engines' settings (geo.db.server_settings), with plan_cache_mode
force_generic_plan: only statements whose plan does not depend on their values come here (a
geometry filter's does; graph.fastpage sends those to the engine). Its bounds are the engine's:
the connect timeout, the pool timeout, the statement timeout and the driver's backstop, and its
errors are the engine's too (a statement timeout is LIMIT_EXCEEDED, an unreachable database
DATABASE_UNAVAILABLE). A connection the server closed is replaced at its next checkout.

Not behind PgBouncer (its sessions are shared): there, these statements go through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Sequence

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.db import DRIVER_BACKSTOP_S, driver_error, driver_url, server_settings, unavailable
from geo.errors import DatabaseUnavailable

CLOSE_S = 5.0       # the longest a shutdown waits for statements in flight before hanging up
BUSY = ("the database is unavailable (busy: no pooled connection became free within "
        "JANGKAU_POOL_TIMEOUT_S): retry in a few seconds")
Observer = Callable[[str, Sequence[object]], None]


class Direct:
    """At most `pool_size` connections to the primary, made when first needed, kept while
    they work: a connection whose statement failed for a reason other than the database's
    refusal (cut off, timed out, closed) is closed rather than used again.

    asyncpg's own pool costs about as much CPU as the statement it carries (0.08-0.1 ms a
    checkout: a task to shield each release, a future and an idle timer each time); this one
    is a semaphore and a stack of idle connections."""

    def __init__(self, url: str, *, statement_timeout_ms: int, pool_size: int,
                 connect_timeout_s: float, pool_timeout_s: float) -> None:
        self.statement_timeout_ms = statement_timeout_ms
        self.pool_timeout_s = pool_timeout_s
        # What observes SQL (tests counting statements) sees these statements too.
        self.observers: list[Observer] = []
        command_timeout = statement_timeout_ms / 1000 + DRIVER_BACKSTOP_S \
            if statement_timeout_ms else None
        self._connect = functools.partial(
            asyncpg.connect, driver_url(url), timeout=connect_timeout_s,
            command_timeout=command_timeout,
            server_settings=server_settings(statement_timeout_ms, generic_plans=True))
        self._size = pool_size
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[asyncpg.Connection] = []     # the last returned is the next used
        self._closing = False

    async def close(self) -> None:
        """Let statements in flight finish, for CLOSE_S at most (a frozen database would
        hold the shutdown), then hang up."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_S):
                for _ in range(self._size):
                    await self._slots.acquire()
                await asyncio.gather(*(c.close() for c in self._idle),
                                     return_exceptions=True)
        for connection in self._idle:
            connection.terminate()
        self._idle.clear()

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """The rows of one statement (`$n` parameters), committed if it wrote."""
        for observe in self.observers:
            observe(sql, args)
        connection = await self._checkout()
        reusable = False
        try:
            rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
            reusable = True
            return rows
        except Exception as err:
            coded = driver_error(err, connection, self.statement_timeout_ms)
            # The database refused the statement (a timeout, a value): the session is sound.
            reusable = isinstance(err, asyncpg.PostgresError) and \
                not isinstance(coded, DatabaseUnavailable)
            if coded is None:
                raise
            raise coded from None
        finally:
            self._checkin(connection, reusable)

    async def _checkout(self) -> asyncpg.Connection:
        if self._closing:
            raise DatabaseUnavailable("the service is shutting down: retry in a few seconds")
        try:
            if self._slots.locked():
                async with asyncio.timeout(self.pool_timeout_s):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()
        except TimeoutError:
            raise DatabaseUnavailable(BUSY) from None
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():      # a restart hung up on it meanwhile
                return connection
        try:
            return await self._connect()
        except BaseException as err:
            self._slots.release()
            outage = unavailable(err) if isinstance(err, Exception) else None
            if outage is not None:
                raise outage from None
            raise

    def _checkin(self, connection: asyncpg.Connection, reusable: bool) -> None:
        if reusable and not self._closing and not connection.is_closed() and \
                not connection.is_in_transaction():
            self._idle.append(connection)
        else:
            connection.terminate()
        self._slots.release()


@contextlib.asynccontextmanager
async def one_statement(engine: AsyncEngine, direct: Direct | None
                        ) -> AsyncIterator[AsyncConnection | Direct]:
    """Where a statement of its own goes on the primary: `direct`, whose statements commit
    themselves, or (None behind PgBouncer) a connection of `engine`, where `geo.db.fetch(...,
    generic=True, commit=True)` makes it a transaction of its own."""
    if direct is None:
        async with engine.connect() as conn:
            yield conn
    else:
        yield direct
