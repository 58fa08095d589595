"""Month partitions of `activities` created ahead of time, by a function of our own.

Migration 0012 defines `activities_partitions_ensure(lo, hi)` in the database; this module only
calls it: at `jangkau db upgrade`, when the API starts, and once a day while it runs. Why not
pg_partman: one more extension to install in every image and CI, a configuration table and a
scheduler of its own, to do what one 30-line function does (docs/SCALE.md, "Partitioning").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import URL, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.periods import WIB

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


# The partitions of the given months (their first days) that are missing, except archived
# months: their rows stay out of the table (geo.archive), and new ones wait in the default.
ENSURE_MONTHS = text("""
    SELECT count(*) FILTER (WHERE activities_partition_create('activities', m))
    FROM unnest(CAST(:months AS date[])) AS m
    WHERE NOT EXISTS (SELECT FROM activity_archives a WHERE a.month = m)
""")

# Months this process knows to have a partition (or to be archived), by database; and when a
# month whose creation failed may be tried again.
_settled: set[tuple[URL, date]] = set()
_retry_at: dict[tuple[URL, date], float] = {}
RETRY_S = 60.0


def month_of(t: datetime) -> date:
    """The first day of `t`'s WIB month: what names its partition."""
    return t.astimezone(WIB).date().replace(day=1)


async def ensure_months(conn: AsyncConnection, months: Iterable[date]) -> None:
    """Create the missing partitions of `months` before rows of them are written, in a short
    transaction of its own, committed: a backdated write (a phone that synced late; months
    are kept ahead only forward) no longer lands in the default partition, whose statistics go
    stale and whose rows every query without a time range reads. Called before the writing
    transaction begins; a month is asked once a process. If its partition cannot be created
    now (a lock not granted in 500 ms, a role that may not), the rows go to the default
    partition as they did before, and a batch of that month tries again after RETRY_S (the
    creation moves the month's rows out of the default)."""
    key, now = conn.engine.url, time.monotonic()
    wanted = sorted({m for m in months
                     if (key, m) not in _settled and _retry_at.get((key, m), 0.0) <= now})
    if not wanted:
        return
    try:
        created = await conn.scalar(ENSURE_MONTHS, {"months": wanted})
        await conn.commit()
    except DBAPIError as exc:
        await conn.rollback()
        _retry_at.update(((key, m), now + RETRY_S) for m in wanted)
        log.warning("month partitions of activities not created for now: %s", exc.orig)
        return
    _settled.update((key, m) for m in wanted)
    if created:
        log.info("created %d month partition(s) of activities for backdated rows", created)


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
