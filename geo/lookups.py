"""Activities by id for concurrent requests, read and access-logged by one statement (issue 13).

graph.fastpath answers `activity(id)` with one statement per request. Under load, 16 callers
at once, each statement's fixed costs (the driver's, the server's wake-up and executor start-up,
the access log's commit) were most of a lookup's cost on both sides. Here the lookups asked
while one statement is in flight go together in the next (geo.coalesce), one statement for all
of them, `page_json.lookup_sql`: it reads the activities and writes the access log's journal
rows of those who are logged, in autocommit, so the journal is committed before any of the
answers leaves, the guarantee each request had with its own commit.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncEngine

from geo.access_log import Reader
from geo.access_writer import AccessWriter
from geo.coalesce import Coalescer
from geo.db import fetch
from geo.direct import Direct, one_statement

Key = tuple[str, tuple[str, ...]]      # the statement (lookup_sql) and its access-log fields


class Asked(NamedTuple):
    """One request's lookup: the id, and who is logged as reading it (unless it is their own
    activity); None: nobody (a caller answered only about their own activities)."""

    id: uuid.UUID
    reader: Reader | None


class Found(NamedTuple):
    staff_id: uuid.UUID
    json: str


class Lookups:
    """One per app (made in its lifespan); `read` from any request."""

    def __init__(self, engine: AsyncEngine, direct: Direct | None,
                 access_writer: AccessWriter) -> None:
        """Statements go to `direct` (geo.direct: one statement in autocommit); without it
        (behind PgBouncer) each is a transaction on the engine, committed before the answers."""
        self.engine = engine
        self.direct = direct
        self.access_writer = access_writer
        self._batches: Coalescer[Key, Asked, Found | None] = Coalescer(self._send)

    async def read(self, sql: str, fields: tuple[str, ...], asked: Asked) -> Found | None:
        """The activity `asked.id` (None: there is none), once its reader's journal row, if
        any, is committed; what the statement raised, if it failed (the answer is withheld)."""
        return await self._batches.submit((sql, fields), asked)

    async def _send(self, key: Key, items: list[Asked]) -> list[Found | None]:
        sql, fields = key
        args = ([a.id for a in items], [a.reader.sub if a.reader else None for a in items],
                [a.reader.role if a.reader else None for a in items],
                [a.reader.staff_id if a.reader else None for a in items], list(fields))
        async with one_statement(self.engine, self.direct) as conn:
            rows = await fetch(conn, sql, *args, generic=True, commit=True)
        found = {r[0]: Found(r[1], r[2]) for r in rows}
        if any(a.reader is not None and a.id in found for a in items):
            self.access_writer.expand_soon()    # journal rows may have been committed
        return [found.get(a.id) for a in items]

    async def close(self) -> None:
        """Wait for the lookups in flight (the app's shutdown)."""
        await self._batches.close()
