"""No N+1: the SQL behind a list of areas (or activities) does not grow with its length."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.sql_log import statements

AREAS = """query($l: AreaLevel) { areas(level: $l) {
    code parent { name }
    coverage(period: {from: "2026-10-01", to: "2026-10-31"}) { activities }
    targets(period: {from: "2026-10-01", to: "2026-10-31"}) { indicator } } }"""

RICHER = """query($b: [Float!]) { areas(level: KELURAHAN, bbox: $b) {
    parent { name parent { code } }
    coverage(period: {from: "2026-10-01", to: "2026-10-31"}) {
        activities area { code } attainment { indicator actual } }
    targets(period: {from: "2026-10-01", to: "2026-10-31"}) { indicator area { code } }
    children { code } } }"""

ACTIVITIES = """query($n: Int) { activities(first: $n) { totalCount edges { node {
    id staff { name unit { code parent { code } } } area { code parent { code } } } } } }"""


async def count(api: Api, query: str, variables: dict[str, Any], rows: str) -> tuple[int, int]:
    """(statements, rows in the answer's list)."""
    with statements(api) as seen:
        data = await api.data(query, variables)
    listed = data[rows]["edges"] if rows == "activities" else data[rows]
    return len(seen), len(listed)


async def test_areas_cost_the_same_for_31_or_153(api: Api) -> None:
    await api.data("{ units { code } }")          # the pool's first connection is set up here
    kec = await count(api, AREAS, {"l": "KECAMATAN"}, "areas")
    kel = await count(api, AREAS, {"l": "KELURAHAN"}, "areas")
    assert (kec[1], kel[1]) == (31, 153)
    assert kec[0] == kel[0]
    assert kel[0] <= 4          # areas, their parents, one coverage aggregate, targets


async def test_a_deeper_areas_query_still_does_not_grow(api: Api) -> None:
    """Each level of nesting costs one batch, however many areas sit at it."""
    await api.data("{ units { code } }")
    few = await count(api, RICHER, {"b": [112.70, -7.33, 112.71, -7.32]}, "areas")
    every = await count(api, RICHER, {"b": None}, "areas")
    assert 0 < few[1] < 10 and every[1] == 153
    assert few[0] == every[0] <= 7


async def test_activities_cost_the_same_for_2_or_8(api: Api) -> None:
    await api.data("{ units { code } }")
    two = await count(api, ACTIVITIES, {"n": 2}, "activities")
    eight = await count(api, ACTIVITIES, {"n": 8}, "activities")
    assert (two[1], eight[1]) == (2, 8)
    assert two[0] == eight[0] <= 8


FILTERED = """{ coverage(level: KELURAHAN, period: {from: "2026-10-01", to: "2026-10-31"},
    filter: {areaCode: "35.78.01", unitCode: "dinkes", category: "posyandu"}) {
    activities distinctStaff attainment { indicator actual } } }"""


async def test_a_filter_is_resolved_once_a_request(api: Api) -> None:
    """Its area, unit tree and category are looked up in one statement, whatever asks again
    (the figures, attainment, the unit's indicators): 11 statements before, 8 of them lookups."""
    await api.data("{ units { code } }")
    with statements(api) as seen:
        data = await api.data(FILTERED)
    assert [r["activities"] for r in data["coverage"]] == [3, 1, 0, 0]
    assert len(seen) == 3       # the codes, the figures, the attainment
    assert sum("FROM service_categories" in s for s in seen) == 1
