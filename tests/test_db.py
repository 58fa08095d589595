"""The engine's pool: a connection whose server session ended is replaced at checkout (there is
no ping per checkout to find it out), with its session settings from the first statement."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.db import create_engine


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

