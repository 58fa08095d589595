"""Reading activities: by id in batches, and pages in a stable keyset order.

Pages are ordered newest first by (started_at, id), or for review by confidence first. A keyset
cursor, unlike an offset, neither skips nor repeats a row when activities arrive while a client
pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.areas import PRECISION
from geo.db import fetch
from geo.filters import Where

COLUMNS = f"""a.id, a.staff_id, a.category_code, a.started_at, a.ended_at, a.device_time,
    a.received_at, ST_AsGeoJSON(a.geom, {PRECISION}) AS location, a.accuracy_m, a.mock_location,
    a.citizens_served, a.outcome_code, a.outcome_met, a.note, a.area_id, a.flags, a.review,
    a.flag_notes, a.confidence"""


@dataclass(frozen=True)
class ActivityRow:
    id: uuid.UUID
    staff_id: uuid.UUID
    category: str
    started_at: datetime
    ended_at: datetime | None
    device_time: datetime | None
    received_at: datetime
    location: str
    accuracy_m: float | None
    mock_location: bool
    citizens_served: int
    outcome: str | None
    outcome_met: bool
    note: str | None
    area_id: int | None
    flags: list[str]              # plausibility flags (geo.plausibility), [] when none
    review: str                   # NONE | PENDING | ACCEPTED | REJECTED
    flag_notes: dict[str, str]    # each flag's reason, with its numbers
    confidence: float             # 0..1, how much the flags together need a human


# The driver's own text ($1), sent as is (geo.db.fetch): a lookup by id is the hottest read
# there is, and building and executing a text() clause cost more CPU than the statement.
BY_IDS = f"SELECT {COLUMNS} FROM activities a WHERE a.id = ANY($1::uuid[])"


async def by_ids(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ActivityRow]:
    found = await fetch(conn, BY_IDS, list(ids))
    return {r[0]: ActivityRow(*r) for r in found}


async def page(
    conn: AsyncConnection, where: Where, first: int, after: tuple[datetime, uuid.UUID] | None
) -> list[ActivityRow]:
    """Up to `first + 1` rows after the cursor: the extra one tells whether a next page exists."""
    params = {**where.params, "lim": first + 1}
    keyset = "TRUE"
    if after is not None:
        keyset = "(a.started_at, a.id) < (:after_t, :after_id)"
        params.update(after_t=after[0], after_id=after[1])
    rows = await conn.execute(text(f"""
        SELECT {COLUMNS} FROM activities a
        WHERE {where.sql} AND {keyset}
        ORDER BY a.started_at DESC, a.id DESC LIMIT :lim"""), params)
    found: Sequence[tuple[Any, ...]] = rows.all()
    return [ActivityRow(*r) for r in found]


async def page_by_confidence(
    conn: AsyncConnection, where: Where, first: int,
    after: tuple[float, datetime, uuid.UUID] | None,
) -> list[ActivityRow]:
    """As `page`, most confident flags first (the review queue), then newest first."""
    params = {**where.params, "lim": first + 1}
    keyset = "TRUE"
    if after is not None:
        keyset = "(a.confidence, a.started_at, a.id) < (:after_c, :after_t, :after_id)"
        params.update(after_c=after[0], after_t=after[1], after_id=after[2])
    rows = await conn.execute(text(f"""
        SELECT {COLUMNS} FROM activities a
        WHERE {where.sql} AND {keyset}
        ORDER BY a.confidence DESC, a.started_at DESC, a.id DESC LIMIT :lim"""), params)
    found: Sequence[tuple[Any, ...]] = rows.all()
    return [ActivityRow(*r) for r in found]


async def count(conn: AsyncConnection, where: Where) -> int:
    n = await conn.scalar(text(f"SELECT count(*) FROM activities a WHERE {where.sql}"),
                          where.params)
    return int(n or 0)
