"""Staff and units, read in batches."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.errors import BadInput

# ASCII digits only, end to end (`\d` takes any script's digits; `$` lets a newline through).
NIP_RE = re.compile(r"([0-9]{8})([0-9]{6})([12])([0-9]{3})")
# The database's CHECK takes appointments from 1960 on; so does this, so the two never disagree.
FIRST_APPOINTMENT_YEAR = 1960


def validate_nip(nip: str) -> str:
    """An 18-digit NIP: birth date (YYYYMMDD), appointment (YYYYMM), gender (1/2), sequence."""
    m = NIP_RE.fullmatch(nip)
    if m is None:
        raise BadInput("NIP must be 18 digits: birth date YYYYMMDD, appointment YYYYMM, "
                       "gender 1 or 2, then a 3-digit sequence")
    birth, appointed = m.group(1), m.group(2)
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        raise BadInput(f"NIP: {birth} is not a valid birth date") from None
    year, month = int(appointed[:4]), int(appointed[4:])
    if not 1 <= month <= 12:
        raise BadInput(f"NIP: {appointed} is not a valid appointment month")
    if not 1940 <= born.year <= 2029:
        raise BadInput(f"NIP: birth year {born.year} is out of range (1940..2029)")
    if not max(FIRST_APPOINTMENT_YEAR, born.year + 15) <= year <= 2099:
        raise BadInput(f"NIP: appointment year {year} is out of range for a birth in {born.year}")
    return nip


@dataclass(frozen=True)
class StaffRow:
    id: uuid.UUID
    nip: str
    name: str
    unit_id: int
    active: bool


@dataclass(frozen=True)
class UnitRow:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    office: str | None          # GeoJSON Point; None when unknown


UNIT_COLUMNS = "id, code, name, kind, parent_id, ST_AsGeoJSON(office, 6)"


async def staff_by_ids(conn: AsyncConnection,
                       ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StaffRow]:
    rows = await conn.execute(text(
        "SELECT id, nip, name, unit_id, active FROM staff WHERE id = ANY(:ids)"),
        {"ids": list(ids)})
    found: Sequence[tuple[Any, ...]] = rows.all()
    return {r[0]: StaffRow(*r) for r in found}


async def units_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, UnitRow]:
    rows = await conn.execute(text(
        f"SELECT {UNIT_COLUMNS} FROM units WHERE id = ANY(:ids)"),
        {"ids": list(ids)})
    found: Sequence[tuple[Any, ...]] = rows.all()
    return {r[0]: UnitRow(*r) for r in found}


async def assigned_areas(conn: AsyncConnection, staff_ids: Sequence[uuid.UUID],
                         on: date) -> dict[uuid.UUID, list[int]]:
    rows = await conn.execute(text("""
        SELECT staff_id, area_id FROM staff_assignments
        WHERE staff_id = ANY(:ids) AND during @> CAST(:on AS date) ORDER BY staff_id, area_id"""),
        {"ids": list(staff_ids), "on": on})
    out: dict[uuid.UUID, list[int]] = {i: [] for i in staff_ids}
    pairs: Sequence[tuple[uuid.UUID, int]] = rows.all()
    for sid, aid in pairs:
        out[sid].append(aid)
    return out


@dataclass(frozen=True)
class Subtree:
    """A unit, every unit below it (units.parent_id), and the staff of all of them."""

    units: frozenset[int]
    staff: frozenset[uuid.UUID]


async def subtree(conn: AsyncConnection, code: str) -> Subtree | None:
    """The subtree under unit `code`; None when there is no such unit."""
    row = (await conn.execute(text("""
        WITH RECURSIVE u AS (
            SELECT id FROM units WHERE code = :c
            UNION ALL SELECT x.id FROM units x JOIN u ON x.parent_id = u.id
        )
        SELECT array(SELECT id FROM u),
               array(SELECT s.id FROM staff s WHERE s.unit_id IN (SELECT id FROM u))"""),
        {"c": code})).one()
    units: list[int] = row[0]
    staff: list[uuid.UUID] = row[1]
    return Subtree(frozenset(units), frozenset(staff)) if units else None
