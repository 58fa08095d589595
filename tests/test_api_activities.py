"""activities / activity / staff / units / reference lists through HTTP.

Every filter's expected answer is computed here from the seed (shapely for geometry, haversine
for distance) and compared with what the API returns, in the API's stable order.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, box, mapping
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.filters import ActivityFilter, Near, build_where
from tests.conftest import Api, serve, settings_for
from tests.payloads import RECORD_MANY, activity, new_id
from tests.seed import ACTIVITIES, K1, K2, K3, KEC1, NIPS, S1, S2, S3, aid, location

Seed = tuple[Any, ...]
LIST = """query($f: ActivityFilter, $n: Int, $a: String) {
  activities(filter: $f, first: $n, after: $a) {
    totalCount edges { cursor node { id startedAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
UNITS = {S1: "DINKES", S2: "DINKES", S3: "KEC-357801"}


def seed_ids(keep: Callable[[Seed], bool] = lambda a: True) -> list[str]:
    """Seed activities that `keep` accepts, newest first, ties broken by id descending."""
    chosen = sorted((a for a in ACTIVITIES if keep(a)), key=lambda a: (a[3], a[0]), reverse=True)
    return [str(a[0]) for a in chosen]


def point(a: Seed) -> Point:
    return Point(location(a[4]))


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance on a sphere of the mean Earth radius (within 0.5 % of the spheroid)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


async def listed(api: Api, f: dict[str, Any] | None = None, n: int | None = None,
                 after: str | None = None) -> dict[str, Any]:
    conn: dict[str, Any] = (await api.data(LIST, {"f": f, "n": n, "a": after}))["activities"]
    return conn


async def ids_for(api: Api, f: dict[str, Any]) -> list[str]:
    page = await listed(api, f)
    got = [e["node"]["id"] for e in page["edges"]]
    assert page["totalCount"] == len(got)
    return got


async def test_activity_by_id(api: Api) -> None:
    data = await api.data("""query($id: ID!) { activity(id: $id) {
        id category startedAt endedAt location accuracyMeters mockLocation citizensServed outcome
        outcomeMet note area { code } staff { id name nip unit { code parent { code } } } } }""",
                          {"id": str(aid(1))})
    lon, lat = location(K1)
    assert data["activity"] == {
        "id": str(aid(1)), "category": "POSYANDU", "startedAt": "2026-10-01T00:30:00+07:00",
        "endedAt": "2026-10-01T01:15:00+07:00",
        "location": {"type": "Point", "coordinates": [lon, lat]}, "accuracyMeters": 8.0,
        "mockLocation": False, "citizensServed": 10, "outcome": "BALITA", "outcomeMet": True,
        "note": None, "area": {"code": K1},
        "staff": {"id": str(S1), "name": "Sri Wahyuni", "nip": NIPS[S1],
                  "unit": {"code": "DINKES", "parent": {"code": "PEMKOT"}}},
    }


async def test_activity_outside_the_city_has_no_area(api: Api) -> None:
    data = await api.data("query($id: ID!) { activity(id: $id) { area { code } location } }",
                          {"id": str(aid(7))})
    assert data["activity"] == {"area": None,
                                "location": {"type": "Point", "coordinates": list(location(None))}}


async def test_unknown_activity_is_null_and_a_bad_id_is_bad_input(api: Api) -> None:
    assert await api.data('{ activity(id: "00000000-0000-4000-a000-999999999999") { id } }') == {
        "activity": None}
    err = await api.error('{ activity(id: "not-a-uuid") { id } }')
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert "not a UUID" in err["message"]


async def test_staff(api: Api) -> None:
    data = await api.data("""query($id: ID!) { staff(id: $id) { id nip name active
        unit { code name kind parent { code } } } }""", {"id": str(S3)})
    assert data["staff"] == {"id": str(S3), "nip": NIPS[S3], "name": "Agus Salim", "active": True,
                             "unit": {"code": "KEC-357801", "name": "Kecamatan Karang Pilang",
                                      "kind": "KECAMATAN", "parent": {"code": "PEMKOT"}}}
    missing = '{ staff(id: "00000000-0000-4000-8000-000000000099") { id } }'
    assert await api.data(missing) == {"staff": None}


async def test_reference_lists(api: Api) -> None:
    data = await api.data("""{ units { code kind parent { code } }
        serviceCategories { code name unitCode } indicators { code name unitCode } }""")
    assert data["units"] == [
        {"code": "DINKES", "kind": "OPD", "parent": {"code": "PEMKOT"}},
        {"code": "KEC-357801", "kind": "KECAMATAN", "parent": {"code": "PEMKOT"}},
        {"code": "PEMKOT", "kind": "OPD", "parent": None},
    ]
    assert data["serviceCategories"] == [
        {"code": "LAYANAN", "name": "Pelayanan kelurahan", "unitCode": "KEC-357801"},
        {"code": "POSYANDU", "name": "Pendampingan posyandu", "unitCode": "DINKES"},
    ]
    assert data["indicators"] == [
        {"code": "ADUAN", "name": "Aduan selesai", "unitCode": "KEC-357801"},
        {"code": "BALITA", "name": "Balita ditimbang", "unitCode": "DINKES"},
    ]


async def test_all_activities_newest_first(api: Api) -> None:
    page = await listed(api)
    assert page["totalCount"] == 8
    assert [e["node"]["id"] for e in page["edges"]] == seed_ids()
    assert seed_ids()[0] == str(aid(7)) and seed_ids()[-1] == str(aid(8))
    info = page["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (False, False)
    assert (info["startCursor"], info["endCursor"]) == (page["edges"][0]["cursor"],
                                                        page["edges"][-1]["cursor"])


async def test_pages_chain_through_cursors(api: Api) -> None:
    seen: list[str] = []
    after, pages = None, 0
    while True:
        page = await listed(api, n=3, after=after)
        pages += 1
        assert page["totalCount"] == 8
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert (pages, seen) == (3, seed_ids())


async def test_first_zero_is_an_empty_page_that_says_more_exist(api: Api) -> None:
    page = await listed(api, n=0)
    assert page["edges"] == []
    assert page["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                "startCursor": None, "endCursor": None}


async def test_equal_start_times_order_by_id(api: Api) -> None:
    same = "2026-10-10T08:00:00+07:00"         # the start of aid(7), the newest seed activity
    # S2, assigned to K1: S1 was at sea at that moment, and would be flagged for the speed.
    batch = [activity(n, startedAt=same, staffId=str(S2)) for n in (1, 2)]
    await api.data(RECORD_MANY, {"i": batch})
    page = await listed(api, n=3)
    expected = sorted([new_id(1), new_id(2), str(aid(7))], reverse=True)
    assert [e["node"]["id"] for e in page["edges"]] == expected
    rest = await listed(api, n=500, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in rest["edges"]] == seed_ids()[1:]


async def test_first_has_a_maximum(db_url: str) -> None:
    async for api in serve(settings_for(db_url, max_first=4)):
        assert len((await listed(api, n=4))["edges"]) == 4
        err = await api.error(LIST, {"n": 5})
        assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "maximum page size (max_first) is 4" in err["message"]


async def test_default_maximum_is_500(api: Api) -> None:
    assert len((await listed(api, n=500))["edges"]) == 8
    err = await api.error(LIST, {"n": 501})
    assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "500" in err["message"]


@pytest.mark.parametrize(("variables", "words"), [
    ({"n": -1}, "must not be negative"),
    ({"a": "garbage!"}, "not a cursor"),
    ({"a": "WyJub3QgYSBkYXRlIiwgIngiXQ"}, "not a cursor"),   # base64 of ["not a date", "x"]
])
async def test_bad_paging_arguments(api: Api, variables: dict[str, Any], words: str) -> None:
    err = await api.error(LIST, variables)
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert words in err["message"]


async def test_paging_while_activities_arrive_neither_skips_nor_repeats(api: Api) -> None:
    """Rows that existed when paging began come out once each, in order, whatever arrives."""
    first = await listed(api, n=2)
    seen = [e["node"]["id"] for e in first["edges"]]
    after, n = first["pageInfo"]["endCursor"], 0
    while after is not None:
        # Between pages: one newer than everything, one older than everything, one among them,
        # an hour apart from the last round's (so that nothing looks like a burst to be flagged).
        hour = 10 + n // 3
        assert hour < 20, "paging does not end"
        arriving = [activity(n + 1, startedAt=f"2026-10-30T{hour}:00:00+07:00"),
                    activity(n + 2, startedAt=f"2026-09-01T{hour}:00:00+07:00"),
                    activity(n + 3, startedAt=f"2026-10-05T{hour}:00:00+07:00")]
        results = (await api.data(RECORD_MANY, {"i": arriving}))["recordActivities"]
        assert {r["status"] for r in results} == {"CREATED"}
        n += 3
        page = await listed(api, n=2, after=after)
        seen += [e["node"]["id"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in set(seed_ids())] == seed_ids()
    newest = {new_id(k) for k in range(1, n + 1, 3)}
    assert not newest & set(seen)      # arrived ahead of the cursor: the next refresh shows them
    assert (await listed(api, n=1))["totalCount"] == 8 + n


def _within_cases() -> list[dict[str, Any]]:
    k1, k2, k3 = (Point(location(c)) for c in (K1, K2, K3))
    hull = shapely.convex_hull(shapely.MultiPoint([k1, k2])).buffer(0.002, quad_segs=4)
    far = shapely.MultiPolygon([box(k3.x - 0.003, k3.y - 0.003, k3.x + 0.003, k3.y + 0.003),
                                box(*Point(location(None)).buffer(0.01).bounds)])
    with_hole = shapely.MultiPoint([k1, k2]).envelope.buffer(0.005, join_style="mitre")
    with_hole = with_hole.difference(k1.buffer(0.001))
    return [mapping(shapely.orient_polygons(g)) for g in (hull, far, with_hole)]


@pytest.mark.parametrize("within", _within_cases())
async def test_within_agrees_with_shapely(api: Api, within: dict[str, Any]) -> None:
    polygon = shapely.geometry.shape(within)
    expected = seed_ids(lambda a: polygon.covers(point(a)))
    assert 0 < len(expected) < 8
    assert await ids_for(api, {"within": within}) == expected


async def test_bbox_agrees_with_shapely(api: Api) -> None:
    x, y = location(K2)
    bbox = [x - 0.02, y - 0.02, x + 0.02, y + 0.02]
    expected = seed_ids(lambda a: box(*bbox).covers(point(a)))
    assert 0 < len(expected) < 8
    assert await ids_for(api, {"bbox": bbox}) == expected


def _near_cases() -> list[tuple[str | None, float, float]]:
    """(centre kelurahan, radius, the nearest distance of any seed point to the circle's edge)."""
    cases = []
    for centre in (K1, K2, K3):
        lon, lat = location(centre)
        ds = sorted({haversine_m(lon, lat, *location(a[4])) for a in ACTIVITIES})
        # A radius halfway between the second- and third-nearest places.
        radius = (ds[1] + ds[2]) / 2
        cases.append((centre, radius, min(abs(d - radius) for d in ds)))
    return cases


@pytest.mark.parametrize(("centre", "radius", "margin"), _near_cases())
async def test_near_agrees_with_haversine(api: Api, centre: str, radius: float,
                                          margin: float) -> None:
    lon, lat = location(centre)
    assert margin > 0.02 * radius         # every point clearly inside or clearly outside
    expected = seed_ids(lambda a: haversine_m(lon, lat, *location(a[4])) <= radius)
    assert 0 < len(expected) < 8
    got = await ids_for(api, {"near": {"lon": lon, "lat": lat, "radiusMeters": radius}})
    assert got == expected


async def test_near_with_zero_radius_is_the_point_itself(api: Api) -> None:
    lon, lat = location(K3)
    got = await ids_for(api, {"near": {"lon": lon, "lat": lat, "radiusMeters": 0}})
    assert got == [str(aid(6))]


@pytest.mark.parametrize("f", [ActivityFilter(within=box(112.6, -7.4, 112.8, -7.2)),
                               ActivityFilter(bbox=(112.6, -7.4, 112.8, -7.2)),
                               ActivityFilter(near=Near(112.7, -7.3, 1_000))])
async def test_spatial_filters_can_use_the_gist_index(conn: AsyncConnection,
                                                      f: ActivityFilter) -> None:
    """Eight rows never need an index; with sequential scans priced out, the plan shows it can."""
    await conn.execute(text("SET LOCAL enable_seqscan = off"))
    where = await build_where(conn, f)
    plan = (await conn.execute(text(f"EXPLAIN SELECT a.id FROM activities a WHERE {where.sql}"),
                               where.params)).scalars().all()
    # The parent's GiST index, or (partitioned by month) each partition's.
    assert any(re.search(r"using activities\w*_geom_(gist|idx) ", line) for line in plan), plan


@pytest.mark.parametrize(("f", "keep"), [
    ({"areaCode": K1}, lambda a: a[4] == K1),
    ({"areaCode": KEC1}, lambda a: a[4] in (K1, K2)),
    ({"areaCode": "35.78"}, lambda a: True),
    ({"unitCode": "DINKES"}, lambda a: UNITS[a[1]] == "DINKES"),
    ({"unitCode": "KEC-357801"}, lambda a: UNITS[a[1]] == "KEC-357801"),
    ({"unitCode": "PEMKOT"}, lambda a: True),
    ({"staffId": str(S3)}, lambda a: a[1] == S3),
    ({"category": "LAYANAN"}, lambda a: a[2] == "LAYANAN"),
    ({"outcomeMet": False}, lambda a: not a[7]),
    ({"category": "POSYANDU", "outcomeMet": True, "areaCode": KEC1,
      "period": {"from": "2026-10-01", "to": "2026-10-31"}},
     lambda a: a[2] == "POSYANDU" and a[7] and a[4] in (K1, K2) and a[3].month == 10),
    ({"staffId": str(S2), "bbox": [112.0, -8.0, 113.5, -6.5], "outcomeMet": True},
     lambda a: a[1] == S2 and a[7]),
])
async def test_attribute_filters(api: Api, f: dict[str, Any], keep: Callable[[Seed], bool]) -> None:
    expected = seed_ids(keep)
    assert expected
    assert await ids_for(api, f) == expected


@pytest.mark.parametrize("f", [{"areaCode": "35.78.99"}, {"unitCode": "NOPE"},
                               {"category": "NOPE"}])
async def test_unknown_codes_in_a_filter_are_not_found(api: Api, f: dict[str, Any]) -> None:
    err = await api.error(LIST, {"f": f})
    assert err["extensions"]["code"] == "NOT_FOUND"
    assert next(iter(f.values())) in err["message"]


async def test_unknown_staff_in_a_filter_matches_nothing(api: Api) -> None:
    assert await ids_for(api, {"staffId": str(uuid.UUID(int=7))}) == []


@pytest.mark.parametrize("compile_pages", [True, False])
async def test_pages_plan_generically_unless_a_geometry_filters_them(
        db_url: str, compile_pages: bool) -> None:
    """A page's plan does not depend on its values, so it is cached (geo.db.plan_generically,
    or on the sessions that plan generically when graph.fastpage answers); a box, a polygon or
    a circle is planned for each request, and the answers agree."""
    from sqlalchemy import event

    from geo.access_log import WRITE
    from geo.db import GENERIC
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    async for api in serve(settings_for(db_url, compile_pages=compile_pages)):
        state = api.http.app.state  # type: ignore[attr-defined]
        event.listen(state.engine.sync_engine, "before_cursor_execute", record)
        if state.direct is not None:
            # A read of geo.direct is planned generically (the access log's batches are no
            # read of the page).
            state.direct.observers.append(
                lambda statement, args: None if WRITE in statement else seen.append(GENERIC))
        plain = await api.data("{ activities(first: 3) { edges { node { id } } } }")
        generic = GENERIC in seen
        seen.clear()
        boxed = await api.data("""{ activities(first: 3, filter: {bbox: [112.5, -7.5, 113, -7]})
            { edges { node { id } } } }""")
        assert (generic, GENERIC in seen) == (True, False)
        assert [e["node"]["id"] for e in plain["activities"]["edges"]] == \
            [e["node"]["id"] for e in boxed["activities"]["edges"]]
