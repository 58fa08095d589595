"""Targets: indicator x (area or staff member) x period (inclusive WIB days) x value.

A target on an area counts the met outcomes of everyone's activities there (geo.coverage); a
target on a staff member counts their own, wherever they worked (geo.team). Both are prorated by
the share of the target's period that an asked period covers.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.codes import MATCH, canonical, unknown
from geo.errors import BadInput, Conflict, NotFound
from geo.periods import Period


@dataclass(frozen=True)
class TargetRow:
    id: int
    indicator: str
    area_id: int | None       # exactly one of area_id, staff_id
    staff_id: uuid.UUID | None
    start: date
    end: date             # inclusive
    value: float


COLUMNS = "id, indicator_code, area_id, staff_id, lower(period), upper(period) - 1, target_value"


async def for_areas(conn: AsyncConnection, area_ids: Sequence[int],
                    period: Period) -> dict[int, list[TargetRow]]:
    """Targets set on each area that overlap `period`."""
    rows = await conn.execute(text(f"""
        SELECT {COLUMNS} FROM targets
        WHERE area_id = ANY(:ids) AND period && daterange(:d0, :d1, '[]')
        ORDER BY area_id, indicator_code, lower(period)"""),
        {"ids": list(area_ids), "d0": period.start, "d1": period.end})
    out: dict[int, list[TargetRow]] = {i: [] for i in area_ids}
    found: Sequence[tuple[Any, ...]] = rows.all()
    for r in found:
        out[r[2]].append(TargetRow(*r))
    return out


async def _subject(conn: AsyncConnection, area_code: str | None,
                   staff_id: uuid.UUID | None) -> tuple[str, int | uuid.UUID, str]:
    """The target's column, its value, and how a message names it."""
    if (area_code is None) == (staff_id is None):
        raise BadInput("give exactly one of `areaCode` (a target for an area) or `staffId` "
                       "(a target for one staff member)")
    if area_code is not None:
        area_id = await conn.scalar(text(f"SELECT id FROM areas WHERE {MATCH}"), {"c": area_code})
        if area_id is None:
            raise await unknown(conn, "areas", area_code)
        return "area_id", area_id, f"in {area_code}"
    found = await conn.scalar(text("SELECT id FROM staff WHERE id = :s"), {"s": staff_id})
    if found is None:
        raise NotFound(f"unknown staff member {staff_id}")
    return "staff_id", found, f"for staff member {staff_id}"


async def set_target(conn: AsyncConnection, indicator: str, period: Period, value: float, *,
                     area_code: str | None = None,
                     staff_id: uuid.UUID | None = None) -> TargetRow:
    """Create the target of an area or a staff member (exactly one), or change the value of the
    one with exactly this period.

    A target overlapping another period of the same indicator and subject is a CONFLICT.
    """
    if not math.isfinite(value) or not 0 < value < 1e9:
        raise BadInput(f"target value must be a positive number below 1e9, got {value}")
    indicator = await canonical(conn, "indicators", indicator)
    column, subject, named = await _subject(conn, area_code, staff_id)
    params = {"i": indicator, "s": subject, "d0": period.start,
              "d1": period.end + timedelta(days=1), "v": value}
    try:
        async with conn.begin_nested():
            result = await conn.execute(text(f"""
                UPDATE targets SET target_value = :v
                WHERE indicator_code = :i AND {column} = :s AND period = daterange(:d0, :d1)
                RETURNING {COLUMNS}"""), params)
            row: tuple[Any, ...] | None = result.first()
            if row is None:
                result = await conn.execute(text(f"""
                    INSERT INTO targets (indicator_code, {column}, period, target_value)
                    VALUES (:i, :s, daterange(:d0, :d1), :v) RETURNING {COLUMNS}"""), params)
                row = result.first()
    except IntegrityError:
        msg = (f"a target for {indicator} {named} already covers part of "
               f"{period.start}..{period.end}; change that one or pick another period")
        raise Conflict(msg) from None
    await conn.commit()
    assert row is not None
    return TargetRow(*row)
