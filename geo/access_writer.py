"""Group commit of access-log rows: the rows of requests finishing at the same time are written
by one INSERT, one round trip and one WAL flush, instead of a transaction each.

The guarantee stays the one a request had with its own transaction: `write` returns only once
the INSERT holding the request's rows has committed (the answer leaves after that), and raises
what the INSERT raised otherwise (the answer is withheld). Only the grouping is new: while one
INSERT is in flight, the rows of the requests that finish meanwhile wait for it and then go
together in the next, so a batch grows with the load and is a single request's when idle
(geo.coalesce).

What is committed is a journal row (migration 0018); the writer writes the journal out as
`access_log`'s rows (`access_log.expand`) off every answer's path, at most once every
`expand_after_s` while rows come in: one INSERT for all of them rather than one per commit,
which on two cores took the CPU the answers had saved. Should that fail, the rows wait in the
journal for the next expansion (or the next `accessLog` read, which expands first): nothing is
lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from geo.access_log import Entry, Reader, expand, write_many
from geo.coalesce import Coalescer
from geo.direct import Direct, one_statement

log = logging.getLogger("jangkau.access_log")


class AccessWriter:
    """One per engine (made in the app's lifespan); `write` from any request."""

    def __init__(self, engine: AsyncEngine, direct: Direct | None = None, *,
                 expand_after_s: float = 1.0) -> None:
        """Batches and expansions go to `direct` (geo.direct: one statement in autocommit, one
        round trip); without it (behind PgBouncer, whose sessions get their settings in each
        transaction) each is a transaction of its own on the engine."""
        self.engine = engine
        self.direct = direct
        self.expand_after_s = expand_after_s
        self._closing = asyncio.Event()
        self._batches: Coalescer[None, tuple[Reader, list[Entry]], None] = \
            Coalescer(self._send)
        self._expander: asyncio.Task[None] | None = None
        self._behind = False      # committed journal rows the expander has not started on

    async def write(self, reader: Reader, entries: list[Entry]) -> None:
        """Once `entries` are committed; what the database raised, if it did not. A request
        abandoned at its time bound stops waiting; its rows are written all the same."""
        if entries:
            await self._batches.submit(None, (reader, entries))

    async def _send(self, _: None, reads: list[tuple[Reader, list[Entry]]]) -> list[None]:
        # One statement, its own transaction, committed (and flushed to the WAL) before this
        # returns.
        async with one_statement(self.engine, self.direct) as conn:
            await write_many(conn, reads, commit=True)
        self.expand_soon()
        return [None] * len(reads)

    def expand_soon(self) -> None:
        """Journal rows were committed (here, or by a page's own statement): expand them
        within `expand_after_s`."""
        self._behind = True
        if self._expander is None:
            self._expander = asyncio.create_task(self._expand())

    async def _expand(self) -> None:
        """Expand `expand_after_s` after a commit (at once when closing), until no commit
        came meanwhile: one at a time, batching what accrued."""
        try:
            while self._behind:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.expand_after_s):
                        await self._closing.wait()
                self._behind = False
                async with one_statement(self.engine, self.direct) as conn:
                    await expand(conn)
        except Exception as exc:  # noqa: BLE001 - the rows stay journaled for the next one
            log.warning("access-log rows left in the journal for now: %s", exc)
        finally:
            self._expander = None

    async def close(self) -> None:
        """Wait for the rows already handed over, and their expansion (the app's shutdown)."""
        self._closing.set()
        await self._batches.close()
        while (task := self._expander) is not None:
            await asyncio.shield(task)
