"""NIP validation in Python and in the database: whatever Python accepts the database stores,
and a wrong shape is refused by both."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.demo import make_nip
from geo.errors import BadInput
from geo.people import validate_nip
from tests.seed import NIPS

DEMO_NIPS = [make_nip(np.random.default_rng(3), seq) for seq in range(300)]
EDGES = [
    "194001011960011001",   # oldest birth year, first appointment year the database takes
    "202912312099122999",   # youngest birth year, last appointment year
    "198002292000011001",   # 29 February of a leap year
]
VALID = [*NIPS.values(), *EDGES]

# nip: a fragment of the message; `shape` marks those the database CHECK refuses as well
INVALID = {
    "19850312201001100": ("18 digits", True),            # 17 digits
    "1985031220100110011": ("18 digits", True),          # 19 digits
    "19850312201001100A": ("18 digits", True),           # a letter
    "198503122010011001\n": ("18 digits", True),         # a trailing newline
    "١٩٨٥٠٣١٢٢٠١٠٠١١٠٠١": ("18 digits", True),         # Arabic-Indic digits
    "198503122010013001": ("18 digits", True),           # gender digit 3
    "198503122010131001": ("appointment month", True),   # month 13 in the appointment
    "194001011959011001": ("appointment year", True),    # appointed before 1960
    "198502302010011001": ("birth date", False),         # 30 February
    "198513012010011001": ("birth date", True),          # birth month 13
    "193912312010011001": ("birth year", True),          # born before 1940
    "199001012000011001": ("appointment year", False),   # appointed at ten
}


@pytest.mark.parametrize("nip", VALID)
def test_valid_nip_is_accepted(nip: str) -> None:
    assert validate_nip(nip) == nip


def test_demo_nips_are_valid() -> None:
    assert [validate_nip(n) for n in DEMO_NIPS] == DEMO_NIPS


@pytest.mark.parametrize("nip", INVALID)
def test_invalid_nip_is_refused_with_a_reason(nip: str) -> None:
    fragment, _ = INVALID[nip]
    with pytest.raises(BadInput, match=fragment):
        validate_nip(nip)


INSERT = text("""
    INSERT INTO staff (nip, name, unit_id)
    SELECT :nip, 'Nama', id FROM units ORDER BY id LIMIT 1""")


async def test_database_stores_every_nip_python_accepts(conn: AsyncConnection) -> None:
    fresh = [n for n in [*EDGES, *DEMO_NIPS] if n not in NIPS.values()]
    await conn.execute(INSERT, [{"nip": n} for n in fresh])
    stored = await conn.scalar(text("SELECT count(*) FROM staff WHERE nip = ANY(:n)"), {"n": fresh})
    assert stored == len(set(fresh))


@pytest.mark.parametrize("nip", [n for n, (_, shape) in INVALID.items() if shape])
async def test_database_refuses_a_wrong_shape(conn: AsyncConnection, nip: str) -> None:
    before = await conn.scalar(text("SELECT count(*) FROM staff"))
    await conn.rollback()
    with pytest.raises(DBAPIError, match="staff_nip_check|too long"):
        await conn.execute(INSERT, {"nip": nip})
    await conn.rollback()
    assert await conn.scalar(text("SELECT count(*) FROM staff")) == before
