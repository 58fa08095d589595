"""Group commit of access-log rows: requests finishing together share one INSERT, each waits
for the commit of its own rows, and a failed INSERT fails every request it carried. Each test
runs both ways a batch is written: on geo.direct's pool (one statement in autocommit) and on
the engine in a transaction (behind a pooler)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.access_log import Entry, Reader, expand
from geo.access_writer import AccessWriter
from geo.direct import Direct
from tests.seed import S1, S2
from tests.waits import within

ENTRY = [Entry(S1, "activity", {"activities": 1, "fields": {"activity": 1}})]


@dataclass
class Writers:
    """AccessWriters of one way of writing a batch, and the statements they run."""

    engine: AsyncEngine
    direct: Direct | None

    def writer(self, **options: Any) -> AccessWriter:
        return AccessWriter(self.engine, self.direct, **options)

    @contextmanager
    def inserts(self, of: str = "access_log_write(") -> Iterator[list[str]]:
        seen: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if of in statement:
                seen.append(statement)

        def observe(statement: str, args: Any) -> None:
            record(None, None, statement)

        event.listen(self.engine.sync_engine, "before_cursor_execute", record)
        if self.direct is not None:
            self.direct.observers.append(observe)
        try:
            yield seen
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", record)
            if self.direct is not None:
                self.direct.observers.remove(observe)


@pytest.fixture(params=["direct", "pooler"])
async def writers(request: pytest.FixtureRequest, engine: AsyncEngine,
                  db_url: str) -> AsyncIterator[Writers]:
    direct = None
    if request.param == "direct":
        direct = Direct(db_url, statement_timeout_ms=5000, pool_size=2, connect_timeout_s=3,
                        pool_timeout_s=3)
    try:
        yield Writers(engine, direct)
    finally:
        if direct is not None:
            await direct.close()


async def logged(conn: AsyncConnection) -> list[tuple[str, str]]:
    await expand(conn)
    rows = (await conn.execute(text(
        "SELECT actor_sub, subject_staff_id::text FROM access_log ORDER BY actor_sub"))).all()
    await conn.rollback()
    return [(r[0], r[1]) for r in rows]


def reader(n: int) -> Reader:
    return Reader(f"reader-{n}", "admin", None)


async def test_writes_finishing_together_are_one_statement(writers: Writers,
                                                          conn: AsyncConnection) -> None:
    writer = writers.writer()
    with writers.inserts() as seen:
        await asyncio.gather(*(writer.write(reader(n), ENTRY) for n in range(5)))
    assert len(seen) == 1
    # Each waited for its own row's commit: another connection sees all five.
    assert await logged(conn) == [(f"reader-{n}", str(S1)) for n in range(5)]


async def test_rows_arriving_during_a_write_go_in_the_next(writers: Writers,
                                                          conn: AsyncConnection) -> None:
    writer = writers.writer()
    with writers.inserts() as seen:
        first = asyncio.create_task(writer.write(reader(0), ENTRY))
        while not seen:                 # the first INSERT is on its way
            await asyncio.sleep(0)
        later = [writer.write(reader(n), [Entry(S2, "activities", {"activities": 2})])
                 for n in (1, 2)]
        await asyncio.gather(first, *later)
    assert len(seen) == 2
    assert await logged(conn) == [("reader-0", str(S1)), ("reader-1", str(S2)),
                                  ("reader-2", str(S2))]


async def test_a_failed_write_fails_every_request_it_carried(writers: Writers,
                                                             conn: AsyncConnection) -> None:
    await conn.execute(text("ALTER TABLE access_log_journal RENAME TO access_log_gone"))
    await conn.commit()
    writer = writers.writer()
    results = await asyncio.gather(*(writer.write(reader(n), ENTRY) for n in range(3)),
                                   return_exceptions=True)
    # The database's own error (the driver's: the write goes straight to it in autocommit).
    assert len(results) == 3 and all(isinstance(r, Exception) and "access_log_journal" in str(r)
                                     for r in results), results
    await conn.execute(text("ALTER TABLE access_log_gone RENAME TO access_log_journal"))
    await conn.commit()
    await writer.write(reader(9), ENTRY)        # the writer goes on after a failure
    assert await logged(conn) == [("reader-9", str(S1))]


async def test_nothing_to_log_writes_nothing(writers: Writers) -> None:
    writer = writers.writer()
    with writers.inserts() as seen:
        await writer.write(reader(0), [])
    assert seen == []


async def test_close_waits_for_rows_handed_over(writers: Writers,
                                                conn: AsyncConnection) -> None:
    writer = writers.writer()
    tasks = [asyncio.create_task(writer.write(reader(i), ENTRY)) for i in range(3)]
    await asyncio.sleep(0)      # handed over; the INSERT has not run yet
    await writer.close()
    assert len(await logged(conn)) == 3
    await asyncio.gather(*tasks)


async def written_out(conn: AsyncConnection) -> int:
    """access_log's rows, without expanding the journal first."""
    n = await conn.scalar(text("SELECT count(*) FROM access_log"))
    await conn.rollback()
    return int(n or 0)


async def test_commits_in_a_while_are_written_out_together(writers: Writers,
                                                           conn: AsyncConnection) -> None:
    """The journal goes out to access_log after the answers, one expansion for the commits of
    `expand_after_s`, not one per commit."""
    writer = writers.writer(expand_after_s=0.3)
    with writers.inserts(of="access_log_expand(") as expansions:
        for n in range(3):
            await writer.write(reader(n), ENTRY)     # three commits, one after the other
        assert await written_out(conn) == 0          # answered; in the journal only

        async def all_out() -> None:
            while await written_out(conn) < 3:
                await asyncio.sleep(0.05)

        await within(all_out(), 30)
        await writer.close()
    # One expansion took all three; its second call found the journal empty.
    assert len(expansions) == 2
    assert await conn.scalar(text("SELECT count(*) FROM access_log_journal")) == 0


async def test_close_writes_the_journal_out_without_waiting(writers: Writers,
                                                            conn: AsyncConnection) -> None:
    writer = writers.writer(expand_after_s=3600)
    await writer.write(reader(0), ENTRY)
    await within(writer.close(), 30)
    assert await written_out(conn) == 1
