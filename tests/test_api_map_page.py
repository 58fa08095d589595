"""What the map page asks beyond the figures: the last day with activity (to offer a period
that has some when the chosen one is empty), and the names it labels, searches and filters by,
which every viewer of a public map may read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Api, ApiAs, serve, settings_for
from tests.seed import K1, K3, S3
from tests.sql_log import statements

LAST = "query($f: ActivityFilter) { lastActivityDate(filter: $f) }"
REFERENCE = """{ areas(level: KECAMATAN) { code name labelPoint } units { code name }
    serviceCategories { code name unitCode } indicators { code name } }"""


async def last(api: Api, **f: Any) -> str | None:
    day: str | None = (await api.data(LAST, {"f": f or None}))["lastActivityDate"]
    return day


async def test_the_last_day_with_activity_follows_the_filter(api: Api) -> None:
    # The newest of the seed: 10 Oct 2026 08:00 WIB (outside every kelurahan, POSYANDU).
    assert await last(api) == "2026-10-10"
    assert await last(api, category="LAYANAN") == "2026-10-09"
    assert await last(api, areaCode=K1) == "2026-10-06"
    assert await last(api, unitCode="KEC-357801") == "2026-10-09"
    assert await last(api, areaCode=K3, category="POSYANDU") is None
    # The filter's own period does not bound it: it answers "when, if not then?".
    assert await last(api, period={"from": "2020-01-01", "to": "2020-01-31"}) == "2026-10-10"
    err = await api.error(LAST, {"f": {"unitCode": "NOPE"}})
    assert err["extensions"]["code"] == "NOT_FOUND"


async def test_the_last_day_is_one_statement(api: Api) -> None:
    with statements(api, "activities") as seen:
        assert await last(api) == "2026-10-10"
    assert len(seen) == 1, seen


async def test_the_last_day_is_what_the_caller_may_see(api_as: ApiAs) -> None:
    """Staff see their own activities only: S3's newest is 9 Oct, not the city's 10 Oct."""
    staff = api_as("staff", sub=S3, unit="KEC-357801")
    assert await last(staff) == "2026-10-09"


@pytest.fixture
async def public(db_url: str) -> AsyncIterator[Api]:
    async for api in serve(settings_for(db_url, public_level="KECAMATAN"), role=None):
        yield api


async def test_a_public_map_names_what_it_shows(public: Api) -> None:
    d = await public.data(REFERENCE)
    assert len(d["areas"]) == 31 and d["areas"][0]["labelPoint"]["type"] == "Point"
    assert {"code": "BALITA", "name": "Balita ditimbang"} in d["indicators"]
    assert {"DINKES", "KEC-357801"} <= {u["code"] for u in d["units"]}
    assert {c["code"] for c in d["serviceCategories"]} == {"POSYANDU", "LAYANAN"}
    assert await last(public) == "2026-10-10"
    # Names, not figures: the figures below the public level stay refused.
    r = await public.http.post("/graphql", json={"query": """{ areas(level: KELURAHAN) {
        coverage(period: {from: "2026-10-01", to: "2026-10-31"}) { activities } } }"""})
    assert r.status_code == 401 and r.json()["errors"][0]["extensions"]["code"] == \
        "UNAUTHENTICATED"


async def test_without_a_public_map_nothing_is_public(api_as: ApiAs) -> None:
    nobody = api_as(None)
    for query in (REFERENCE, LAST):
        r = await nobody.http.post("/graphql", json={"query": query})
        assert r.status_code == 401, query
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
