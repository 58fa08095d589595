"""The engine's pool: a connection whose server session ended is replaced at checkout (there is
no ping per checkout to find it out), with its session settings from the first statement; and
`fetch`, the driver's fast path, refusing and failing as the engine's statements do."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.db import _numbered, create_engine, fetch, fetch_named
from geo.errors import DatabaseUnavailable, LimitExceeded


async def test_a_connection_the_server_closed_is_replaced_not_failed(
        db_url: str, conn: AsyncConnection) -> None:
    engine = create_engine(db_url, pool_size=1)
    try:
        async with engine.connect() as c:
            before = await c.scalar(text("SELECT pg_backend_pid()"))
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
        await conn.rollback()
        await asyncio.sleep(0.2)        # the hang-up reaches the idle pooled connection
        async with engine.connect() as c:
            after = await c.scalar(text("SELECT pg_backend_pid()"))
            assert await c.scalar(text("SELECT current_setting('jit')")) == "off"
        assert after != before
    finally:
        await engine.dispose()



async def test_fetch_refuses_as_the_engine_does_on_either_path(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1, statement_timeout_ms=50)
    try:
        for autocommit in (True, False):
            async with engine.connect() as c:
                if autocommit:
                    await c.execution_options(isolation_level="AUTOCOMMIT")
                assert await fetch(c, "SELECT $1::int + 1", 1) == [(2,)]
                with pytest.raises(LimitExceeded, match="statement_timeout = 50 ms"):
                    await fetch(c, "SELECT pg_sleep(1)")
    finally:
        await engine.dispose()


async def test_fetch_on_a_connection_lost_mid_use_is_an_outage(
        db_url: str, conn: AsyncConnection) -> None:
    engine = create_engine(db_url, pool_size=1)
    try:
        async with engine.connect() as c:
            await c.execution_options(isolation_level="AUTOCOMMIT")
            pid = (await fetch(c, "SELECT pg_backend_pid()"))[0][0]
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.rollback()
            with pytest.raises(DatabaseUnavailable):
                await fetch(c, "SELECT 1")
        async with engine.connect() as c:     # that connection left the pool
            assert await c.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await engine.dispose()


async def test_fetch_named_numbers_parameters_as_text_would(db_url: str) -> None:
    """`:name` parameters become `$n` once per name; casts (`::`) and times are left alone."""
    sql = ("SELECT CAST(:a AS text) || :b, CAST(:a AS text), 'x'::text, "
           "to_char(TIMESTAMP '2026-01-01 08:30', 'HH24:MI:SS'), :b")
    assert _numbered(sql)[1] == ("a", "b")
    engine = create_engine(db_url, pool_size=1)
    try:
        for autocommit in (True, False):
            async with engine.connect() as c:
                if autocommit:
                    await c.execution_options(isolation_level="AUTOCOMMIT")
                rows = await fetch_named(c, sql, {"a": "x", "b": "y"})
                assert tuple(rows[0]) == ("xy", "x", "x", "08:30:00", "y")
    finally:
        await engine.dispose()
