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
from geo.db import fetch, fetch_named
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
# Through activities_by_id (migration 0015), whose plan is cached: planning the partitioned
# table cost seven times the read.
BY_IDS = f"SELECT {COLUMNS} FROM activities_by_id($1::uuid[]) a"


async def by_ids(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ActivityRow]:
    found = await fetch(conn, BY_IDS, list(ids))
    return {r[0]: ActivityRow(*r) for r in found}


# A page's orders: the keyset condition after a cursor (its parameters after_c, after_t,
# after_id) and the ORDER BY. Also the compiled pages' (geo.page_json).
ORDERS = {
    "newest": ("(a.started_at, a.id) < (:after_t, :after_id)",
               "a.started_at DESC, a.id DESC"),
    # The review queue: most confident flags first, then newest first.
    "confidence": ("(a.confidence, a.started_at, a.id) < (:after_c, :after_t, :after_id)",
                   "a.confidence DESC, a.started_at DESC, a.id DESC"),
}


def window(where: Where, first: int, after: dict[str, Any] | None, order: str,
           columns: str) -> tuple[str, dict[str, Any]]:
    """A page's rows as SQL (`columns` of up to `first + 1` activities in `order` after the
    cursor, whose parameters are `after`; the extra row tells whether a next page exists) and
    its parameters; the compiled pages (geo.page_json) wrap it. Planned generically unless a
    geometry filters it (`generic`, geo.db.plan_generically)."""
    keyset, order_by = ORDERS[order]
    return (f"SELECT {columns} FROM activities a WHERE {where.sql} AND "
            f"{keyset if after else 'TRUE'} ORDER BY {order_by} LIMIT :lim",
            {**where.params, "lim": first + 1, **(after or {})})


def generic(where: Where) -> bool:
    """Whether a page's plan does not depend on its values: no geometry filters it."""
    return not where.spatial


async def page(conn: AsyncConnection, where: Where, first: int, after: dict[str, Any] | None,
               order: str = "newest") -> list[ActivityRow]:
    """Up to `first + 1` rows in `order` after the cursor (`after`: its parameters): the extra
    one tells whether a next page exists."""
    sql, params = window(where, first, after, order, COLUMNS)
    found = await fetch_named(conn, sql, params, generic=generic(where))
    return [ActivityRow(*r) for r in found]


async def count(conn: AsyncConnection, where: Where) -> int:
    n = await conn.scalar(text(f"SELECT count(*) FROM activities a WHERE {where.sql}"),
                          where.params)
    return int(n or 0)
