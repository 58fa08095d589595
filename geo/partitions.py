"""Month partitions of `activities` created ahead of time, by a function of our own.

Migration 0011 defines `activities_partitions_ensure(lo, hi)` in the database; this module only
calls it: at `jangkau db upgrade`, when the API starts, and once a day while it runs. Why not
pg_partman: one more extension to install in every image and CI, a configuration table and a
scheduler of its own, to do what one 30-line function does (docs/SCALE.md, "Partitioning").
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("jangkau.partitions")

DAY_S = 86_400.0

ENSURE = text("""
    SELECT activities_partitions_ensure(CAST(:now AS timestamptz),
                                        CAST(:now AS timestamptz) + make_interval(months => :n))
""")


async def ensure_ahead(conn: AsyncConnection, months: int, now: datetime | None = None) -> int:
    """Create the partitions of the current WIB month and the `months` after it that are
    missing, and commit; returns how many were created."""
    created = await conn.scalar(ENSURE, {"now": now or datetime.now().astimezone(), "n": months})
    await conn.commit()
    return int(created or 0)


async def ensure_quietly(engine: AsyncEngine, months: int) -> None:
    """`ensure_ahead`, with any failure logged rather than raised: the months already ahead
    leave time for the next attempt, and a database not yet migrated has nothing to keep."""
    try:
        async with engine.connect() as conn:
            created = await ensure_ahead(conn, months)
        if created:
            log.info("created %d month partition(s) of activities", created)
    except Exception as exc:  # noqa: BLE001 - upkeep must never stop the service
        log.warning("activities partitions not kept ahead: %s", exc)


async def keep_ahead(engine: AsyncEngine, months: int, every_s: float = DAY_S) -> None:
    """Run `ensure_quietly` every `every_s` seconds until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        await ensure_quietly(engine, months)
