"""The newest activity a filter counts, in any period: lets a map with an empty period offer
the last one that has activity, for the price of one index scan."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.filters import ActivityFilter, build_where
from geo.periods import wib_date


async def last_activity_date(conn: AsyncConnection, f: ActivityFilter | None) -> date | None:
    """The WIB day of the newest activity `f` counts, whatever its period; None without any."""
    w = await build_where(conn, f, with_period=False)
    newest = await conn.scalar(text(f"SELECT max(a.started_at) FROM activities a WHERE {w.sql}"),
                               w.params)
    return wib_date(newest) if newest is not None else None
