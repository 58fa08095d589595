"""The team view: every row's figures equal that person's activities in the period, counted by
hand from the seed plus a few rows of this module's own (tests/seed.py is left as it is).

Added here: DINKES's office at the seed's point in K1 (where aid 1-3 were made); S4, active
without activity (a row of zeros); S5, inactive without activity (no row); S6, inactive, who
worked at 23:30 and 00:30 WIB across midnight (two WIB days, one UTC day) and once more with a
pending flag. A personal BALITA target of 4 for S1 over October.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.coverage import attainment, rollup_serves
from geo.filters import ActivityFilter, resolve
from geo.periods import Period
from geo.team import team as team_page
from tests.conftest import Api, ApiAs
from tests.payloads import OCTOBER
from tests.seed import K1, K2, K3, KEC1, S1, S2, S3, WIB, aid, location
from tests.sql_log import statements
from tests.test_tiles import get_tile, tile_of, url

S4 = uuid.UUID("00000000-0000-4000-8000-000000000004")
S5 = uuid.UUID("00000000-0000-4000-8000-000000000005")
S6 = uuid.UUID("00000000-0000-4000-8000-000000000006")
EXTRA = [(S4, "Citra Lestari", True, "198801012012012004"),
         (S5, "Dewi Kusuma", False, "198902022013022005"),
         (S6, "Eko Prasetyo", False, "199003032014031006")]
# (n, WIB start, place, citizens, met, review)
S6_WORK = [(101, datetime(2026, 10, 12, 23, 30, tzinfo=WIB), K2, 4, True, "NONE"),
           (102, datetime(2026, 10, 13, 0, 30, tzinfo=WIB), K2, 2, False, "NONE"),
           (103, datetime(2026, 10, 14, 10, 0, tzinfo=WIB), K1, 9, True, "PENDING")]

TEAM = """query($u: String!, $p: Period!, $f: ActivityFilter, $n: Int, $a: String) {
    team(unitCode: $u, period: $p, filter: $f, first: $n, after: $a) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { staff { id name } activities citizensServed outcomesMet
            outcomeRate fieldDays areasServed fieldShare flaggedShare lastActivityAt
            attainment { indicator target actual ratio met } } } } }"""


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine on a 6,371 km sphere: an independent check of the 250 m threshold."""
    (x0, y0), (x1, y1) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((y1 - y0) / 2) ** 2 + math.cos(y0) * math.cos(y1) * math.sin((x1 - x0) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


async def add_team_rows(conn: AsyncConnection) -> None:
    lon, lat = location(K1)
    await conn.execute(text("""UPDATE units SET office = ST_SetSRID(ST_MakePoint(:x, :y), 4326)
                               WHERE code = 'DINKES'"""), {"x": lon, "y": lat})
    for sid, name, active, nip in EXTRA:
        await conn.execute(text("""
            INSERT INTO staff (id, nip, name, unit_id, active)
            VALUES (:id, :nip, :name, (SELECT id FROM units WHERE code = 'DINKES'), :a)"""),
            {"id": sid, "nip": nip, "name": name, "a": active})
    for n, start, place, citizens, met, review in S6_WORK:
        x, y = location(place)
        await conn.execute(text("""
            INSERT INTO activities (id, staff_id, category_code, started_at, geom, accuracy_m,
                                    citizens_served, outcome_code, outcome_met)
            VALUES (:id, :s, 'POSYANDU', :t, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 8, :c,
                    'BALITA', :m)"""),
            {"id": aid(n), "s": S6, "t": start, "x": x, "y": y, "c": citizens, "m": met})
        # The flags are this test's to set: judged ones would depend on the assignment rules.
        await conn.execute(text("""
            UPDATE activities SET flags = CASE WHEN :r = 'PENDING'
                THEN ARRAY['MOCK_LOCATION'] ELSE '{}'::text[] END, review = :r
            WHERE id = :id"""), {"id": aid(n), "r": review})
    await conn.execute(text("""
        INSERT INTO targets (indicator_code, staff_id, period, target_value)
        VALUES ('BALITA', :s, daterange('2026-10-01', '2026-11-01'), 4)"""), {"s": S1})
    await conn.commit()


@pytest.fixture
async def team_api(api: Api, conn: AsyncConnection) -> Api:
    await add_team_rows(conn)
    return api


async def team(api: Api, unit: str = "DINKES", period: dict[str, str] = OCTOBER,
               **more: Any) -> dict[str, Any]:
    data: dict[str, Any] = (await api.data(TEAM, {"u": unit, "p": period, **more}))["team"]
    return data


def by_staff(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["node"]["staff"]["id"]: e["node"] for e in answer["edges"]}


async def test_every_row_is_that_persons_october(team_api: Api) -> None:
    rows = by_staff(await team(team_api))
    assert set(rows) == {str(S1), str(S2), str(S4), str(S6)}    # S5: inactive, no record
    # S1: aid 1 (1 Oct 00:30 WIB, K1), 2 (5 Oct, K1), 7 (10 Oct, outside the city); all met.
    # The office is at aid 1 and 2's point; aid 7 is in the Madura strait: 1 of 3 afield.
    assert metres(location(K1), location(None)) > 1000
    s1 = rows[str(S1)]
    assert {k: s1[k] for k in ("activities", "citizensServed", "outcomesMet", "outcomeRate",
                               "fieldDays", "areasServed", "flaggedShare", "lastActivityAt")} == {
        "activities": 3, "citizensServed": 16, "outcomesMet": 3, "outcomeRate": 1.0,
        "fieldDays": 3, "areasServed": 1, "flaggedShare": 0.0,
        "lastActivityAt": "2026-10-10T08:00:00+07:00"}
    assert s1["fieldShare"] == round(1 / 3, 6)
    # S2: aid 3 (K1, not met) and 4 (K2, met); aid 8 is 30 September 23:59 WIB, outside.
    assert metres(location(K1), location(K2)) >= 250
    s2 = rows[str(S2)]
    assert (s2["activities"], s2["citizensServed"], s2["outcomesMet"], s2["outcomeRate"],
            s2["fieldDays"], s2["areasServed"], s2["fieldShare"]) == (2, 10, 1, 0.5, 2, 2, 0.5)
    # S4: active, nothing done: zeros, and nulls where a share of nothing has no meaning.
    s4 = rows[str(S4)]
    assert (s4["activities"], s4["fieldDays"], s4["outcomeRate"], s4["fieldShare"],
            s4["flaggedShare"], s4["lastActivityAt"], s4["attainment"]) == (
        0, 0, None, None, 0.0, None, [])
    # S6: 23:30 and 00:30 WIB are two WIB days (one UTC day); the pending one is not counted
    # but is one of their three records.
    first, second = S6_WORK[0][1], S6_WORK[1][1]
    assert first.astimezone(UTC).date() == second.astimezone(UTC).date()
    s6 = rows[str(S6)]
    assert (s6["activities"], s6["citizensServed"], s6["outcomesMet"], s6["fieldDays"],
            s6["areasServed"], s6["flaggedShare"], s6["fieldShare"]) == (
        2, 6, 1, 2, 1, round(1 / 3, 6), 1.0)
    assert s6["lastActivityAt"] == "2026-10-13T00:30:00+07:00"


async def test_personal_attainment_is_prorated_and_counts_their_own_outcomes(
        team_api: Api) -> None:
    whole = by_staff(await team(team_api))[str(S1)]["attainment"]
    assert whole == [{"indicator": "BALITA", "target": 4.0, "actual": 3, "ratio": 0.75,
                      "met": False}]
    half = {"from": "2026-10-01", "to": "2026-10-05"}      # aid 1 and 2 only
    part = by_staff(await team(team_api, period=half))[str(S1)]["attainment"]
    assert part == [{"indicator": "BALITA", "target": round(4 * 5 / 31, 6), "actual": 2,
                     "ratio": round(2 / (4 * 5 / 31), 6), "met": True}]
    # Filtered to K1, the row and its attainment both leave aid 7 out.
    k1 = by_staff(await team(team_api, f={"areaCode": K1}))[str(S1)]
    assert (k1["activities"], k1["attainment"][0]["actual"]) == (2, 2)


@pytest.mark.parametrize("unit", ["DINKES", "KEC-357801", "PEMKOT"])
async def test_a_units_rows_sum_to_its_city_coverage(team_api: Api, unit: str) -> None:
    rows = (await team(team_api, unit))["edges"]
    city = (await team_api.data("""query($u: String!) { coverage(level: CITY,
        period: {from: "2026-10-01", to: "2026-10-31"}, filter: {unitCode: $u}) {
        activities citizensServed outcomesMet } }""", {"u": unit}))["coverage"][0]
    for ours, theirs in [("activities", "activities"), ("citizensServed", "citizensServed"),
                         ("outcomesMet", "outcomesMet")]:
        assert sum(e["node"][ours] for e in rows) == city[theirs], (unit, ours)
    assert city["activities"] == {"DINKES": 7, "KEC-357801": 2, "PEMKOT": 9}[unit]


async def test_pages_follow_one_stable_order(team_api: Api) -> None:
    whole = await team(team_api, "PEMKOT")
    assert whole["totalCount"] == 5 and not whole["pageInfo"]["hasNextPage"]
    seen: list[str] = []
    after = None
    while True:
        page = await team(team_api, "PEMKOT", n=2, a=after)
        assert page["totalCount"] == 5
        seen += [e["node"]["staff"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [e["node"]["staff"]["id"] for e in whole["edges"]]
    # By unit code, then name: DINKES's four (Budi, Citra, Eko, Sri), then KEC-357801's Agus.
    assert seen == [str(S2), str(S4), str(S6), str(S1), str(S3)]


async def test_one_query_per_page_however_long(team_api: Api) -> None:
    await team(team_api)        # the pool's first connection is set up here
    sizes = []
    for n in (1, 4):
        with statements(team_api) as seen:
            page = await team(team_api, "PEMKOT", n=n)
        assert len(page["edges"]) == n
        sizes.append(len(seen))
    assert sizes[0] == sizes[1] <= 3     # the unit subtree, the page (+ nothing per row)


async def test_the_data_function_serves_exports_whole(conn: AsyncConnection) -> None:
    await add_team_rows(conn)
    units = (await conn.execute(text("SELECT id FROM units"))).scalars().all()
    page = await team_page(conn, units, Period(date(2026, 10, 1), date(2026, 10, 31)))
    assert page.total == len(page.rows) == 5 and not page.has_next
    assert sum(r.activities for r in page.rows) == 9


async def test_who_sees_which_team(team_api: Api, api_as: ApiAs) -> None:
    sup = api_as("supervisor", S1, "DINKES")
    assert len((await team(sup))["edges"]) == 4
    err = await sup.error(TEAM, {"u": "KEC-357801", "p": OCTOBER})
    assert err["extensions"]["code"] == "FORBIDDEN" and "own units" in err["message"]
    for role, sub, unit in [("staff", S1, "DINKES"), ("planner", None, "BAPPEDA")]:
        err = await api_as(role, sub, unit).error(TEAM, {"u": "DINKES", "p": OCTOBER})
        assert err["extensions"]["code"] == "FORBIDDEN"
    err = await team_api.error(TEAM, {"u": "NOPE", "p": OCTOBER})
    assert err["extensions"]["code"] == "NOT_FOUND"
    err = await team_api.error(TEAM, {"u": "DINKES", "p": OCTOBER, "a": "bm9wZQ"})
    assert err["extensions"]["code"] == "BAD_USER_INPUT"


SET_TARGET = """mutation($i: TargetInput!) { setTarget(input: $i) {
    indicator value area { code } staff { id } period { from to } } }"""


async def test_set_a_personal_target_and_see_it_in_the_team(team_api: Api,
                                                            api_as: ApiAs) -> None:
    sup = api_as("supervisor", S1, "DINKES")
    made = (await sup.data(SET_TARGET, {"i": {"indicator": "BALITA", "staffId": str(S2),
                                              "value": 2, "month": "2026-10"}}))["setTarget"]
    assert made == {"indicator": "BALITA", "value": 2.0, "area": None, "staff": {"id": str(S2)},
                    "period": {"from": "2026-10-01", "to": "2026-10-31"}}
    s2 = by_staff(await team(team_api))[str(S2)]
    assert s2["attainment"] == [{"indicator": "BALITA", "target": 2.0, "actual": 1,
                                 "ratio": 0.5, "met": False}]
    december = {"indicator": "BALITA", "value": 1, "month": "2026-12"}
    refusals = [
        (sup, {**december, "staffId": str(S3)}, "FORBIDDEN", "not in unit"),
        (sup, {**december, "staffId": str(S1)}, "FORBIDDEN", "your supervisor"),
        (sup, {**december, "areaCode": K1}, "FORBIDDEN", "admins"),
        (team_api, {**december, "areaCode": K1, "staffId": str(S2)}, "BAD_USER_INPUT",
         "exactly one"),
        (team_api, december, "BAD_USER_INPUT", "exactly one"),
        (team_api, {**december, "staffId": str(uuid.UUID(int=9))}, "NOT_FOUND",
         "unknown staff"),
        (team_api, {"indicator": "BALITA", "value": 3, "staffId": str(S2),
                    "period": {"from": "2026-10-20", "to": "2026-11-05"}},
         "CONFLICT", "already covers"),
    ]
    for who, inp, code, words in refusals:
        err = await who.error(SET_TARGET, {"i": inp})
        assert (err["extensions"]["code"], words in err["message"]) == (code, True), err
    # The refused ones changed nothing: S2 still has the one target.
    assert len(by_staff(await team(team_api))[str(S2)]["attainment"]) == 1


OFFICE = """mutation($u: String!, $l: GeoJSON) { setUnitOffice(unitCode: $u, location: $l) {
    code office } }"""


async def test_an_admin_places_an_office_and_field_share_follows(api: Api) -> None:
    far = {"type": "Point", "coordinates": list(location(K3))}
    done = (await api.data(OFFICE, {"u": "DINKES", "l": far}))["setUnitOffice"]
    assert done["office"]["coordinates"] == far["coordinates"]
    rows = by_staff(await team(api))
    assert metres(location(K3), location(K1)) >= 250 and metres(location(K3), location(K2)) >= 250
    assert (rows[str(S1)]["fieldShare"], rows[str(S2)]["fieldShare"]) == (1.0, 1.0)
    await api.data(OFFICE, {"u": "DINKES", "l": None})
    assert by_staff(await team(api))[str(S1)]["fieldShare"] is None
    for unit, loc, code in [("NOPE", far, "NOT_FOUND"),
                            ("DINKES", {"type": "Point", "coordinates": [-7.3, 112.7]},
                             "INVALID_GEOMETRY")]:
        err = await api.error(OFFICE, {"u": unit, "l": loc})
        assert err["extensions"]["code"] == code


COVERAGE = """query($l: AreaLevel!, $f: ActivityFilter) {
    coverage(level: $l, period: {from: "2026-10-01", to: "2026-10-31"}, filter: $f) {
        area { code } activities distinctStaff attainment { indicator } } }"""


def rows_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["area"]["code"]: r for r in data["coverage"]}


async def test_attainment_with_a_unit_lists_only_its_indicators(api: Api,
                                                                api_as: ApiAs) -> None:
    every = rows_of(await api.data(COVERAGE, {"l": "KELURAHAN"}))
    assert [a["indicator"] for a in every[K2]["attainment"]] == ["ADUAN"]
    dinkes = rows_of(await api.data(COVERAGE, {"l": "KELURAHAN", "f": {"unitCode": "DINKES"}}))
    assert dinkes[K2]["attainment"] == []
    assert [a["indicator"] for a in dinkes[K1]["attainment"]] == ["BALITA"]
    kec = rows_of(await api.data(COVERAGE, {"l": "KELURAHAN",
                                            "f": {"unitCode": "KEC-357801"}}))
    assert ([a["indicator"] for a in kec[K2]["attainment"]], kec[K1]["attainment"]) == (
        ["ADUAN"], [])
    sup = rows_of(await api_as("supervisor", S1, "DINKES").data(COVERAGE, {"l": "KELURAHAN"}))
    assert (sup[K2]["attainment"], [a["indicator"] for a in sup[K1]["attainment"]]) == (
        [], ["BALITA"])


ACTIVITY_IDS = """{ activities(filter: {period: {from: "2026-10-01", to: "2026-10-31"}}) {
    edges { node { id } } } }"""


async def test_an_area_scoped_supervisor(api: Api, api_as: ApiAs) -> None:
    camat = api_as("supervisor", S3, "KEC-357801", areas=[KEC1])
    # Every unit's activity in their kecamatan: DINKES's S1 and S2 too (K1: aid 1, 2, 3).
    mine = rows_of(await camat.data(COVERAGE, {"l": "KELURAHAN"}))
    assert (mine[K1]["activities"], mine[K2]["activities"]) == (3, 2)
    assert K3 not in mine
    # ... with other units' staff figures suppressed as a planner's are (k = 3).
    assert mine[K1]["distinctStaff"] is None
    # The same as an admin sees there.
    admin = rows_of(await api.data(COVERAGE, {"l": "KELURAHAN", "f": {"areaCode": KEC1}}))
    assert {c: r["activities"] for c, r in mine.items()} == \
        {c: r["activities"] for c, r in admin.items()}
    # Outside their areas: FORBIDDEN, for coverage, maps and hexbins alike.
    for query, variables in [
            (COVERAGE, {"l": "KELURAHAN", "f": {"areaCode": K3}}),
            ("""{ coverageMap(level: KELURAHAN, period: {from: "2026-10-01", to: "2026-10-31"},
                filter: {areaCode: "35.78.02"}) }""", None),
            ("""{ hexbins(period: {from: "2026-10-01", to: "2026-10-31"}, cellSizeMeters: 500,
                filter: {areaCode: "35.78.02.1001"}) }""", None),
            (f'{{ area(code: "{K3}") {{ coverage(period: {{from: "2026-10-01", '
             f'to: "2026-10-31"}}) {{ activities }} }} }}', None)]:
        err = await camat.error(query, variables)
        assert err["extensions"]["code"] == "FORBIDDEN" and "outside your areas" in err["message"]
    # Their own unit, anywhere: the plain supervisor's view (K3 is in another kecamatan).
    own = rows_of(await camat.data(COVERAGE, {"l": "KELURAHAN",
                                              "f": {"unitCode": "KEC-357801"}}))
    assert (own[K3]["activities"], own[K3]["distinctStaff"], own[K1]["activities"]) == (1, 1, 0)
    # Records stay their own unit's: S3's aid 5 and 6, nothing of DINKES's.
    ids = {e["node"]["id"] for e in (await camat.data(ACTIVITY_IDS))["activities"]["edges"]}
    assert ids == {str(aid(5)), str(aid(6))}
    err = await camat.error(TEAM, {"u": "DINKES", "p": OCTOBER})
    assert err["extensions"]["code"] == "FORBIDDEN"


async def test_a_supervisor_of_several_areas_names_one(api_as: ApiAs) -> None:
    lurah = api_as("supervisor", S3, "KEC-357801", areas=[K1, K3])
    err = await lurah.error(COVERAGE, {"l": "KELURAHAN"})
    assert err["extensions"]["code"] == "FORBIDDEN" and "filter.areaCode" in err["message"]
    k3 = rows_of(await lurah.data(COVERAGE, {"l": "KELURAHAN", "f": {"areaCode": K3}}))
    assert list(k3) == [K3] and k3[K3]["activities"] == 1
    err = await lurah.error(COVERAGE, {"l": "KELURAHAN", "f": {"areaCode": K2}})
    assert err["extensions"]["code"] == "FORBIDDEN"


async def test_an_area_scoped_supervisors_area_tiles(api: Api, api_as: ApiAs) -> None:
    camat = api_as("supervisor", S3, "KEC-357801", areas=[KEC1])
    theirs = {f["properties"]["code"]: f["properties"]
              for f in await get_tile(camat, "areas", tile_of(K1, 12))}
    assert theirs[K1]["activities"] == 3 and "distinctStaff" not in theirs[K1]
    r = await camat.http.get(url("areas", tile_of(K3, 12)),
                             params={**OCTOBER, "areaCode": "35.78.02"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FORBIDDEN")


SCOPED_AREAS = """query($b: [Float!]) { areas(level: KELURAHAN, parentCode: "35.78.01", bbox: $b) {
    code coverage(period: {from: "2026-10-01", to: "2026-10-31"}) { activities } } }"""


async def test_an_area_scoped_list_of_areas_costs_the_same_for_1_or_all(api_as: ApiAs) -> None:
    camat = api_as("supervisor", S3, "KEC-357801", areas=[KEC1])
    await camat.data("{ units { code } }")          # the pool's first connection is set up here
    x, y = location(K1)
    sizes = []
    for box in ([x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4], None):
        with statements(camat) as seen:
            listed = (await camat.data(SCOPED_AREAS, {"b": box}))["areas"]
        sizes.append((len(seen), len(listed)))
        if box is None:
            assert {a["code"]: a["coverage"]["activities"] for a in listed}[K1] == 3
    (few, n_few), (every, n_every) = sizes
    assert n_few < n_every and few == every


async def test_scoped_attainment_is_the_same_from_rollups_and_base_table(
        conn: AsyncConnection) -> None:
    dinkes = frozenset((await resolve(conn, ActivityFilter(unit_code="DINKES"))).units or ())
    october = Period(date(2026, 10, 1), date(2026, 10, 31))
    for f in (ActivityFilter(indicator_units=dinkes), ActivityFilter(area_code=KEC1)):
        assert rollup_serves(f)
        fast = await attainment(conn, "KELURAHAN", october, f)
        base = await attainment(conn, "KELURAHAN", october, f, rollups=False)
        assert fast == base and fast
    scoped = await attainment(conn, "KECAMATAN", october, ActivityFilter(indicator_units=dinkes))
    assert {a.indicator for a in scoped} == {"BALITA"}
