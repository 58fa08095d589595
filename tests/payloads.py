"""What the API tests send: periods, activity inputs and the GraphQL fragments they share."""

from __future__ import annotations

import uuid
from typing import Any

from tests.seed import K1, S1, location

OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}

ACTIVITY_FIELDS = """id category startedAt citizensServed outcome outcomeMet note accuracyMeters
    location staff { id } area { code }"""

RECORD_RESULT = f"id status error {{ code message }} activity {{ {ACTIVITY_FIELDS} }}"

RECORD_ONE = f"""mutation($i: ActivityInput!) {{
    recordActivity(input: $i) {{ {RECORD_RESULT} }} }}"""
RECORD_MANY = f"""mutation($i: [ActivityInput!]!) {{
    recordActivities(inputs: $i) {{ {RECORD_RESULT} }} }}"""


def new_id(n: int) -> str:
    """Ids for activities the tests record: distinct from the seed's `aid(n)`."""
    return str(uuid.UUID(f"00000000-0000-4000-b000-{n:012d}"))


def activity(n: int, place: str | None = K1, **overrides: Any) -> dict[str, Any]:
    """A valid ActivityInput for `place` (None: outside the city), dated inside October 2026."""
    lon, lat = location(place)
    payload: dict[str, Any] = {
        "id": new_id(n), "staffId": str(S1), "category": "POSYANDU",
        "startedAt": f"2026-10-20T{8 + n % 10:02d}:00:00+07:00",
        "location": {"type": "Point", "coordinates": [lon, lat]},
        "accuracyMeters": 5.0, "citizensServed": 3, "outcome": "BALITA", "outcomeMet": True,
        "note": f"test {n}",
    }
    payload.update(overrides)
    return payload
