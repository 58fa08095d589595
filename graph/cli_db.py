"""The commands' way to the database: DATABASE_URL's, or the private cluster (started and
created when needed), one connection for one piece of work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from geo.database import ensure_database
from geo.db import connect
from geo.settings import Settings

T = TypeVar("T")


def with_db(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`work(conn)`'s result, run to completion from a command."""
    url = ensure_database(settings)

    async def run() -> T:
        async with connect(url) as conn:
            return await work(conn)

    return asyncio.run(run())
