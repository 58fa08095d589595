"""Who works where, for the command line: units and their staff listed, and the person a
development token is minted for. Staff are named by id and name; the NIP finds a person but is
never printed (it is personal data)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.codes import MATCH, unknown
from geo.errors import BadInput, NotFound
from geo.people import validate_nip


@dataclass(frozen=True)
class UnitEntry:
    code: str
    name: str
    kind: str
    parent_code: str | None
    staff: int


@dataclass(frozen=True)
class StaffEntry:
    id: uuid.UUID
    name: str
    unit_code: str
    active: bool


STAFF = """SELECT s.id, s.name, u.code, s.active FROM staff s JOIN units u ON u.id = s.unit_id"""


async def units(conn: AsyncConnection) -> list[UnitEntry]:
    rows: Sequence[tuple[Any, ...]] = (await conn.execute(text("""
        SELECT u.code, u.name, u.kind, p.code,
               (SELECT count(*) FROM staff s WHERE s.unit_id = u.id AND s.active)
        FROM units u LEFT JOIN units p ON p.id = u.parent_id
        ORDER BY u.code"""))).all()
    return [UnitEntry(*r) for r in rows]


async def _unit_id(conn: AsyncConnection, code: str) -> int:
    found: int | None = await conn.scalar(text(f"SELECT id FROM units WHERE {MATCH}"),
                                          {"c": code})
    if found is None:
        raise await unknown(conn, "units", code)
    return found


async def staff(conn: AsyncConnection, unit_code: str | None = None) -> list[StaffEntry]:
    """Everyone, or the staff of one unit and of every unit below it; by unit, then name."""
    if unit_code is None:
        rows = await conn.execute(text(f"{STAFF} ORDER BY u.code, s.name, s.id"))
    else:
        rows = await conn.execute(text(f"""
            WITH RECURSIVE t AS (
                SELECT CAST(:root AS integer) AS id
                UNION ALL SELECT x.id FROM units x JOIN t ON x.parent_id = t.id
            ) {STAFF} WHERE s.unit_id IN (SELECT id FROM t)
            ORDER BY u.code, s.name, s.id"""), {"root": await _unit_id(conn, unit_code)})
    found: Sequence[tuple[Any, ...]] = rows.all()
    return [StaffEntry(*r) for r in found]


async def _first(conn: AsyncConnection, sql: str, **params: Any) -> StaffEntry | None:
    row: tuple[Any, ...] | None = (await conn.execute(text(sql), params)).first()
    return StaffEntry(*row) if row is not None else None


async def pick(conn: AsyncConnection, unit_code: str | None, nip: str | None) -> StaffEntry:
    """The active staff member with this NIP, or the first by name of the unit itself."""
    if nip is not None:
        found = await _first(conn, f"{STAFF} WHERE s.nip = :nip AND s.active",
                             nip=validate_nip(nip))
        if found is None:
            raise NotFound("no active staff member has that NIP")
        person = found
        if unit_code is not None and person.unit_code.upper() != unit_code.upper():
            raise BadInput(f"the staff member with that NIP, {person.name}, belongs to "
                           f"{person.unit_code}, not {unit_code}")
        return person
    if unit_code is None:
        raise BadInput("name the unit (--unit CODE) or the person (--nip NIP): `jangkau units "
                       "list` and `jangkau staff list --unit CODE` show them")
    first = await _first(conn, f"{STAFF} WHERE s.unit_id = :u AND s.active "
                               "ORDER BY s.name, s.id LIMIT 1", u=await _unit_id(conn, unit_code))
    if first is None:
        raise NotFound(f"unit {unit_code} has no active staff: `jangkau staff list` shows who "
                       "works where")
    return first
