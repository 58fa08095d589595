"""Extra activities at chosen places, for tests that need more points than the seed has."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.seed import S1, WIB

MID_OCTOBER = datetime(2026, 10, 15, 10, 0, tzinfo=WIB)


def point_id(n: int) -> uuid.UUID:
    """Distinct from the seed's `aid(n)` and the API tests' `new_id(n)`."""
    return uuid.UUID(f"00000000-0000-4000-c000-{n:012d}")


async def add_points(conn: AsyncConnection, points: Sequence[tuple[float, float]],
                     at: datetime = MID_OCTOBER) -> list[uuid.UUID]:
    """One POSYANDU activity of S1 at each (lon, lat), serving 1 citizen; committed."""
    ids = [point_id(n) for n in range(len(points))]
    await conn.execute(text("""
        INSERT INTO activities (id, staff_id, category_code, started_at, geom, citizens_served,
                                outcome_code, outcome_met)
        VALUES (:id, :s, 'POSYANDU', :t, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 1,
                'BALITA', :met)"""),
        [{"id": i, "s": S1, "t": at, "lon": lon, "lat": lat, "met": n % 2 == 0}
         for n, (i, (lon, lat)) in enumerate(zip(ids, points, strict=True))])
    await conn.commit()
    return ids
