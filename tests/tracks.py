"""Hand-made tracks for the plausibility tests: staff of their own, places, and the GraphQL to
record activities and read their flags.

The staff here are not the seed's, and their days (November 2026) are not the seed's, so no
seed activity is ever a neighbour of theirs and the seed's figures stay as they are.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import Api
from tests.seed import K1, OUTSIDE, inside

T1 = uuid.UUID("00000000-0000-4000-8000-000000000101")
T2 = uuid.UUID("00000000-0000-4000-8000-000000000102")
NIPS = {T1: "198001012005011101", T2: "198202022006022102"}
KF = "35.78.17.1004"          # ~17 km from K1's point: 5 minutes apart is 206 km/h
DAY = "2026-11-03"            # a Tuesday, WIB
ASSIGNED_FROM = date(2026, 11, 1)

Place = str | tuple[float, float] | None

FIELDS = "id flags review"
RECORD = f"""mutation($i: [ActivityInput!]!) {{ recordActivities(inputs: $i) {{
    id status error {{ code message }} activity {{ {FIELDS} }} }} }}"""


def tid(n: int) -> str:
    """Ids for the activities of these tracks: distinct from the seed's and payloads'."""
    return str(uuid.UUID(f"00000000-0000-4000-c000-{n:012d}"))


async def add_staff(conn: AsyncConnection, sid: uuid.UUID, places: list[str],
                    since: date = ASSIGNED_FROM) -> None:
    """A DINKES staff member assigned to `places` from `since` on."""
    await conn.execute(text("""
        INSERT INTO staff (id, nip, name, unit_id)
        VALUES (:id, :nip, 'Uji Lintasan', (SELECT id FROM units WHERE code = 'DINKES'))"""),
        {"id": sid, "nip": NIPS[sid]})
    for code in places:
        await conn.execute(text("""
            INSERT INTO staff_assignments (staff_id, area_id, during)
            VALUES (:s, (SELECT id FROM areas WHERE code = :c), daterange(:d, NULL))"""),
            {"s": sid, "c": code, "d": since})
    await conn.commit()


def point(place: Place) -> tuple[float, float]:
    if place is None:
        return OUTSIDE
    return inside(place) if isinstance(place, str) else place


def spot(place: Place, staff: uuid.UUID) -> tuple[float, float]:
    """Where `staff` records at `place`: T2 a metre east of T1, since two phones never report
    the very same coordinates (COPIED_LOCATION flags that)."""
    lon, lat = point(place)
    return (lon + 1 / 110_400.0, lat) if staff == T2 else (lon, lat)


def act(n: int, at: str, place: Place = K1, staff: uuid.UUID = T1,
        **overrides: Any) -> dict[str, Any]:
    """An ActivityInput: `at` is a WIB time on DAY ("09:05") or a full ISO timestamp."""
    lon, lat = spot(place, staff)
    payload: dict[str, Any] = {
        "id": tid(n), "staffId": str(staff), "category": "POSYANDU",
        "startedAt": at if "T" in at else f"{DAY}T{at}:00+07:00",
        "location": {"type": "Point", "coordinates": [lon, lat]},
        "accuracyMeters": 8.0, "citizensServed": 2, "outcome": "BALITA", "outcomeMet": True,
    }
    payload.update(overrides)
    return payload


def metres_east(place: Place, metres: float) -> tuple[float, float]:
    """A point `metres` east of `place` (at Surabaya's latitude)."""
    lon, lat = point(place)
    return lon + metres / 110_400.0, lat


async def record(api: Api, *items: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Record `items` in one batch; every one must be created. Returns id -> {flags, review}."""
    results = (await api.data(RECORD, {"i": list(items)}))["recordActivities"]
    assert [r["status"] for r in results] == ["CREATED"] * len(items), results
    return {r["id"]: r["activity"] for r in results}


async def judged(api: Api, *ns: int) -> dict[int, tuple[list[str], str]]:
    """The stored flags and review state of activities tid(n), read through GraphQL."""
    query = "{ " + " ".join(f'a{n}: activity(id: "{tid(n)}") {{ {FIELDS} }}' for n in ns) + " }"
    data = await api.data(query)
    return {n: (data[f"a{n}"]["flags"], data[f"a{n}"]["review"]) for n in ns}

