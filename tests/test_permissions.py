"""Authorisation, role by role, through HTTP with real signed tokens on the seed.

The seed's organisation: PEMKOT above DINKES (S1, S2) and KEC-357801 (S3). A supervisor of
DINKES sees S1's and S2's records, never S3's; a staff member sees their own; a planner sees
figures only, with the staff-identifying ones suppressed below k distinct staff.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry

from geo.settings import Settings
from graph import permissions
from graph.app import create_app
from graph.auth import Forbidden, Principal, Unauthenticated
from graph.permissions import ROUTES, RULES, Guard, check_routes, protect
from graph.schema import Mutation, Query, Subscription, schema
from tests.conftest import Api, ApiAs, serve, settings_for
from tests.payloads import OCTOBER, RECORD_MANY, activity
from tests.seed import K1, K2, K3, KEC1, S1, S2, S3, aid
from tests.test_n_plus_one import AREAS, count
from tests.test_tiles import get_tile, tile_of, url

SUP = uuid.UUID("00000000-0000-4000-8000-0000000000aa")     # a supervisor, not in the seed
P = '{from: "2026-10-01", to: "2026-10-31"}'

# One valid use of every root field. test_the_matrix_covers_every_root_field keeps it whole.
FIELDS: dict[str, str] = {
    "area": '{ area(code: "35.78.01.1001") { code } }',
    "areas": "{ areas(level: KECAMATAN) { code } }",
    "coverage": f"{{ coverage(level: CITY, period: {P}) {{ activities }} }}",
    "coverageMap": f"{{ coverageMap(level: CITY, period: {P}) }}",
    "coverageSeries": f"{{ coverageSeries(level: CITY, period: {P}, bucket: WEEK) "
                      "{ points { activities } } }",
    "hexbins": f"{{ hexbins(period: {P}, cellSizeMeters: 5000) }}",
    "reach": f"{{ reach(level: CITY, period: {P}, radiusMeters: 100) {{ activities }} }}",
    "gaps": f"{{ gaps(level: KECAMATAN, period: {P}, minActivities: 1) {{ activities }} }}",
    "lastActivityDate": "{ lastActivityDate }",
    "nearestActivities": "{ nearestActivities(lon: 112.7, lat: -7.3, limit: 3) {"
                         " distanceMeters } }",
    "activities": "{ activities { totalCount } }",
    "activity": f'{{ activity(id: "{aid(1)}") {{ id }} }}',
    "flaggedActivities": "{ flaggedActivities { totalCount } }",
    "staff": f'{{ staff(id: "{S1}") {{ id }} }}',
    "units": "{ units { code } }",
    "serviceCategories": "{ serviceCategories { code } }",
    "indicators": "{ indicators { code } }",
    "accessLog": "{ accessLog { edges { node { id } } } }",
    "team": f'{{ team(unitCode: "DINKES", period: {P}) {{ totalCount }} }}',
    "recordActivity": """mutation($i: ActivityInput!) { recordActivity(input: $i) { status } }""",
    "recordActivities": """mutation($i: [ActivityInput!]!) {
        recordActivities(inputs: $i) { status } }""",
    "setTarget": """mutation { setTarget(input: {indicator: "BALITA", areaCode: "35.78.02.1001",
        value: 3, month: "2026-12"}) { id } }""",
    "resolveFlags": f"""mutation {{ resolveFlags(activityId: "{aid(1)}", decision: ACCEPTED,
        reason: "dicek") {{ id }} }}""",
    "setUnitOffice": """mutation { setUnitOffice(unitCode: "DINKES",
        location: {type: "Point", coordinates: [112.73, -7.26]}) { code } }""",
    # S1's own record: the staff member may contest (it has no flags: BAD_USER_INPUT).
    "contestFlags": f"""mutation {{ contestFlags(activityId: "{aid(1)}", note: "saya di sana")
        {{ id }} }}""",
}
AGGREGATES = {"area", "areas", "coverage", "coverageMap", "coverageSeries", "hexbins", "reach",
              "gaps", "units", "serviceCategories", "indicators", "lastActivityDate"}
RECORDS = {"nearestActivities", "activities", "activity", "staff", "recordActivity",
           "recordActivities"}
ALLOWED = {
    "staff": AGGREGATES | RECORDS | {"contestFlags"},
    "supervisor": AGGREGATES | RECORDS | {"flaggedActivities", "resolveFlags", "team"},
    "planner": AGGREGATES,
    "admin": set(FIELDS) - {"contestFlags"},     # only a record's own staff member contests
}
CALLERS = {"staff": (S1, "DINKES"), "supervisor": (SUP, "DINKES"), "planner": (None, "BAPPEDA"),
           "admin": (None, None)}


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def use(api: Api, field: str) -> dict[str, Any]:
    one = activity(1, staffId=str(S1))
    variables = {"recordActivity": {"i": one}, "recordActivities": {"i": [one]}}.get(field)
    return await api.post(FIELDS[field], variables)


def test_the_matrix_covers_every_root_field() -> None:
    gql = schema._schema     # noqa: SLF001 - graphql-core's view: the names clients use
    roots = {f"{t.name}.{f}" for t in (gql.query_type, gql.mutation_type) for f in t.fields}
    assert {f.split(".")[1] for f in roots} == set(FIELDS)
    # Subscriptions are asked through sockets: tests/test_subscriptions.py checks their rules.
    live = {f"Subscription.{f}" for f in gql.subscription_type.fields}
    assert roots | live == set(RULES), "a root field without a rule, or a rule without a field"


def test_every_root_field_carries_the_guard() -> None:
    for root in (Query, Mutation, Subscription):
        fields = strawberry.types.base.get_object_definition(root, strict=True).fields
        assert all(sum(isinstance(e, Guard) for e in f.extensions) == 1 for f in fields)


async def test_a_root_field_without_a_rule_is_refused_to_everyone() -> None:
    @strawberry.type
    class Q:
        @strawberry.field
        async def secret(self) -> int:
            return 42

    protect(Q)
    admin = SimpleNamespace(principal=Principal("root", "admin", None), settings=Settings())
    result = await strawberry.Schema(query=Q).execute("{ secret }", context_value=admin)
    assert result.data is None
    assert result.errors and isinstance(result.errors[0].original_error, Forbidden)


def test_every_route_has_a_rule() -> None:
    app = create_app(Settings())
    assert {r.path for r in app.routes} == set(ROUTES)   # type: ignore[attr-defined]
    extra = [*app.routes, strawberry.Schema]   # not a route at all
    with pytest.raises(RuntimeError, match="without an access rule"):
        check_routes(extra)  # type: ignore[arg-type]


def test_the_rules_ask_a_token_everywhere_but_public_aggregates() -> None:
    closed, open_ = Settings(), Settings(public_level="KECAMATAN")
    for name, rule in RULES.items():
        with pytest.raises(Unauthenticated):
            permissions.check(rule, None, closed, name, "CITY")
        if rule.public:
            permissions.check(rule, None, open_, name, "KECAMATAN")
            with pytest.raises(Unauthenticated):
                permissions.check(rule, None, open_, name, "KELURAHAN")
        if rule.reference:     # names and codes: at any level, once a public map exists
            permissions.check(rule, None, open_, name, "KELURAHAN")
        elif not rule.public:
            with pytest.raises(Unauthenticated):
                permissions.check(rule, None, open_, name, "CITY")
    assert {n for n, r in RULES.items() if r.public} == \
        {"Query.coverage", "Query.coverageMap", "Query.coverageSeries", "Query.lastActivityDate",
         "Subscription.coverageChanged"}
    assert {n for n, r in RULES.items() if r.reference} == \
        {"Query.areas", "Query.units", "Query.serviceCategories", "Query.indicators"}


@pytest.mark.parametrize("role", [None, *CALLERS])
async def test_each_role_may_use_its_fields_and_no_other(api_as: ApiAs, role: str | None) -> None:
    sub, unit = CALLERS[role] if role else (None, None)
    api = api_as(role, sub, unit)
    allowed = ALLOWED[role] if role else set()
    for field in FIELDS:
        got = codes(await use(api, field))
        if field in allowed:
            assert not {"FORBIDDEN", "UNAUTHENTICATED"} & set(got), (field, got)
        else:
            assert got == ["UNAUTHENTICATED" if role is None else "FORBIDDEN"], (field, got)


LIST = """query($f: ActivityFilter) { activities(filter: $f, first: 50) {
    edges { node { id staff { id } } } } }"""
KEC = f"""query($f: ActivityFilter) {{ coverage(level: KECAMATAN, period: {P}, filter: $f) {{
    area {{ code }} activities distinctStaff lastActivityAt }} }}"""
KEL = f"""query {{ coverage(level: KELURAHAN, period: {P}) {{
    area {{ code }} activities distinctStaff lastActivityAt }} }}"""


async def listed(api: Api, f: dict[str, Any] | None = None) -> set[uuid.UUID]:
    edges = (await api.data(LIST, {"f": f}))["activities"]["edges"]
    return {uuid.UUID(e["node"]["id"]) for e in edges}


async def refused(api: Api, query: str, variables: dict[str, Any] | None = None) -> str:
    body = await api.post(query, variables)
    assert codes(body) == ["FORBIDDEN"], body
    return str(body["errors"][0]["message"])


async def row_of(api: Api, query: str, code: str, f: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    rows = (await api.data(query, {"f": f} if f is not None else None))["coverage"]
    found: dict[str, Any] = next(r for r in rows if r["area"]["code"] == code)
    return found


async def test_staff_read_their_own_activities_only(api_as: ApiAs) -> None:
    staff = api_as("staff", S1, "DINKES")
    assert await listed(staff) == {aid(1), aid(2), aid(7)}
    assert await listed(staff, {"staffId": str(S1)}) == {aid(1), aid(2), aid(7)}
    await refused(staff, LIST, {"f": {"staffId": str(S2)}})
    await refused(staff, f'{{ activity(id: "{aid(3)}") {{ id }} }}')
    near = await staff.data("""{ nearestActivities(lon: 112.7, lat: -7.3, limit: 20) {
        activity { id } } }""")
    assert {uuid.UUID(n["activity"]["id"]) for n in near["nearestActivities"]} == \
        {aid(1), aid(2), aid(7)}
    points = await get_tile(staff, "activities", tile_of(K1, 14))
    assert {f["properties"]["id"] for f in points} == {str(aid(1)), str(aid(2))}


async def test_staff_figures_are_their_units_with_small_cells_suppressed(
        api_as: ApiAs, api: Api) -> None:
    staff = api_as("staff", S1, "DINKES")
    # DINKES' staff (S1, S2) did 4 of KEC1's 5 October activities; S3's is not theirs.
    mine = await row_of(staff, KEC, KEC1)
    assert (mine["activities"], mine["distinctStaff"], mine["lastActivityAt"]) == (4, None, None)
    everyone = await row_of(api, KEC, KEC1)
    assert (everyone["activities"], everyone["distinctStaff"]) == (5, 3)
    assert (await row_of(staff, KEC, KEC1, {"staffId": str(S1)}))["activities"] == 2
    assert (await row_of(staff, KEC, KEC1, {"unitCode": "DINKES"}))["activities"] == 4
    for outside in ({"unitCode": "KEC-357801"}, {"unitCode": "PEMKOT"}, {"staffId": str(S2)}):
        await refused(staff, KEC, {"f": outside})


async def test_staff_record_their_own_activities_only(api_as: ApiAs, api: Api) -> None:
    staff = api_as("staff", S1, "DINKES")
    results = (await staff.data(RECORD_MANY, {"i": [
        activity(1), activity(2, staffId=str(S2)), activity(3)]}))["recordActivities"]
    assert [r["status"] for r in results] == ["CREATED", "REJECTED", "CREATED"]
    assert results[1]["error"]["code"] == "FORBIDDEN" and results[1]["activity"] is None
    stored = await api.data(
        "query($a: ID!, $b: ID!) { a: activity(id: $a) { id } b: activity(id: $b) { id } }",
        {"a": results[0]["id"], "b": results[1]["id"]})
    assert stored == {"a": {"id": results[0]["id"]}, "b": None}


async def test_a_nip_and_a_name_only_for_the_person_their_supervisors_and_admins(
        api_as: ApiAs, api: Api) -> None:
    who = "query($id: ID!) { staff(id: $id) { id nip name unit { code } } }"
    for reader, subject in ((api_as("staff", S1, "DINKES"), S1),
                            (api_as("supervisor", SUP, "DINKES"), S2),
                            (api_as("supervisor", SUP, "PEMKOT"), S3), (api, S3)):
        got = (await reader.data(who, {"id": str(subject)}))["staff"]
        assert got["id"] == str(subject) and len(got["nip"]) == 18 and got["name"]
    for reader, subject in ((api_as("staff", S1, "DINKES"), S2),
                            (api_as("supervisor", SUP, "DINKES"), S3)):
        for field in ("nip", "name"):
            body = await reader.post(f"query($id: ID!) {{ staff(id: $id) {{ {field} }} }}",
                                     {"id": str(subject)})
            assert codes(body) == ["FORBIDDEN"] and body["data"] == {"staff": None}, body
            assert body["errors"][0]["path"] == ["staff", field]
        unit = await reader.data("query($id: ID!) { staff(id: $id) { unit { code } } }",
                                 {"id": str(subject)})
        assert unit["staff"]["unit"]["code"] in ("DINKES", "KEC-357801")


async def test_supervisors_read_their_unit_and_the_units_below(api_as: ApiAs) -> None:
    dinkes = api_as("supervisor", SUP, "DINKES")
    assert await listed(dinkes) == {aid(n) for n in (1, 2, 3, 4, 7, 8)}
    assert await listed(dinkes, {"staffId": str(S2)}) == {aid(3), aid(4), aid(8)}
    assert await listed(dinkes, {"unitCode": "DINKES"}) == {aid(n) for n in (1, 2, 3, 4, 7, 8)}
    assert "not in unit DINKES" in await refused(dinkes, LIST, {"f": {"staffId": str(S3)}})
    assert "outside unit DINKES" in await refused(dinkes, LIST, {"f": {"unitCode": "KEC-357801"}})
    await refused(dinkes, f'{{ activity(id: "{aid(5)}") {{ id }} }}')
    await refused(dinkes, f"""mutation {{ resolveFlags(activityId: "{aid(5)}",
        decision: ACCEPTED, reason: "bukan anak buah") {{ id }} }}""")
    points = await get_tile(dinkes, "activities", tile_of(K2, 14))
    assert {f["properties"]["id"] for f in points} == {str(aid(4))}    # not S3's aid(5)
    # Their figures are their subtree's, every one shown: they may see the records anyway.
    kec = await row_of(dinkes, KEC, KEC1)
    assert (kec["activities"], kec["distinctStaff"]) == (4, 2)
    assert kec["lastActivityAt"] is not None

    city = api_as("supervisor", SUP, "PEMKOT")
    assert await listed(city) == {aid(n) for n in range(1, 9)}
    nowhere = api_as("supervisor", SUP, "DINAS-HILANG")
    assert "not a unit here" in await refused(nowhere, LIST)


async def test_a_supervisor_does_not_clear_their_own_flags(api_as: ApiAs, api: Api) -> None:
    mocked = activity(9, mockLocation=True)
    assert (await api.data(RECORD_MANY, {"i": [mocked]}))["recordActivities"][0]["status"] == \
        "CREATED"
    resolve = f"""mutation {{ resolveFlags(activityId: "{mocked['id']}", decision: ACCEPTED,
        reason: "sinyal") {{ review reviews {{ reviewer }} }} }}"""
    assert "your supervisor" in await refused(api_as("supervisor", S1, "DINKES"), resolve)
    done = (await api_as("supervisor", SUP, "PEMKOT").data(resolve))["resolveFlags"]
    assert done == {"review": "ACCEPTED", "reviews": [{"reviewer": str(SUP)}]}


async def test_planners_see_figures_with_small_cells_suppressed(api_as: ApiAs, api: Api) -> None:
    planner = api_as("planner", None, "BAPPEDA")
    rows = {r["area"]["code"]: r for r in (await planner.data(KEL))["coverage"]}
    # K1: 3 activities by 2 staff, K3: 1 by 1: fewer than k = 3, so who and when are hidden.
    assert (rows[K1]["activities"], rows[K1]["distinctStaff"], rows[K1]["lastActivityAt"]) == \
        (3, None, None)
    assert (rows[K3]["activities"], rows[K3]["distinctStaff"]) == (1, None)
    kec = await row_of(planner, KEC, KEC1)
    assert (kec["activities"], kec["distinctStaff"]) == (5, 3) and kec["lastActivityAt"]
    await refused(planner, KEC, {"f": {"staffId": str(S1)}})

    fc = (await planner.data(f"{{ coverageMap(level: KELURAHAN, period: {P}) }}"))["coverageMap"]
    k1 = next(f["properties"] for f in fc["features"] if f["id"] == K1)
    assert (k1["activities"], k1["distinctStaff"], k1["lastActivityAt"]) == (3, None, None)
    theirs = {f["properties"]["code"]: f["properties"]
              for f in await get_tile(planner, "areas", tile_of(K1, 12))}
    admins = {f["properties"]["code"]: f["properties"]
              for f in await get_tile(api, "areas", tile_of(K1, 12))}
    assert theirs[K1]["activities"] == admins[K1]["activities"] == 3
    assert "distinctStaff" not in theirs[K1] and admins[K1]["distinctStaff"] == 2

    gaps = (await planner.data(f"""{{ gaps(level: KELURAHAN, period: {P}, minActivities: 2) {{
        area {{ code }} activities lastActivityAt daysSinceLastActivity }} }}"""))["gaps"]
    k3 = next(g for g in gaps if g["area"]["code"] == K3)
    assert (k3["activities"], k3["lastActivityAt"], k3["daysSinceLastActivity"]) == (1, None, 22)

    for layer in ("activities/14/0/0.mvt", "activities.json"):
        r = await planner.http.get(f"/tiles/{layer}", params=OCTOBER)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "FORBIDDEN"), layer


async def test_k_is_a_setting(db_url: str) -> None:
    async for planner in serve(settings_for(db_url, k_anonymity=2), role="planner",
                               unit="BAPPEDA"):
        assert (await row_of(planner, KEL, K1))["distinctStaff"] == 2     # 2 staff: shown
        assert (await row_of(planner, KEL, K3))["distinctStaff"] is None  # 1 staff: hidden


HEX = f"{{ hexbins(period: {P}, cellSizeMeters: 20000) }}"


async def test_hexbins_leave_out_cells_of_fewer_than_k_staff(db_url: str) -> None:
    """At k = 4 every cell (the seed has 3 staff) is left out for a planner, none for an admin;
    at k = 1 the planner's hexagons are the admin's."""
    seen: dict[tuple[str, int], list[Any]] = {}
    for role, k in (("planner", 4), ("admin", 4), ("planner", 1)):
        async for api in serve(settings_for(db_url, k_anonymity=k), role=role, unit="BAPPEDA"):
            seen[(role, k)] = (await api.data(HEX))["hexbins"]["features"]
    assert seen[("planner", 4)] == []
    assert seen[("admin", 4)] and seen[("planner", 1)] == seen[("admin", 4)]


async def test_tiles_refuse_a_unit_outside_the_callers(api_as: ApiAs) -> None:
    r = await api_as("staff", S1, "DINKES").http.get(
        url("areas", tile_of(K1, 12)), params={**OCTOBER, "unitCode": "KEC-357801"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FORBIDDEN")
    mine = await api_as("staff", S1, "DINKES").http.get(url("areas", tile_of(K1, 12)),
                                                        params=OCTOBER)
    assert mine.status_code == 200
    assert (mine.headers["cache-control"], mine.headers["vary"]) == \
        ("private, max-age=60", "Authorization, X-API-Key")


async def test_scoping_a_list_of_areas_costs_the_same_for_31_or_153(api_as: ApiAs) -> None:
    """The caller's unit is read once a request, not once for each area that asks."""
    sup = api_as("supervisor", SUP, "DINKES")
    await sup.data("{ units { code } }")
    kec = await count(sup, AREAS, {"l": "KECAMATAN"}, "areas")
    kel = await count(sup, AREAS, {"l": "KELURAHAN"}, "areas")
    assert (kec[1], kel[1]) == (31, 153)
    assert kec[0] == kel[0] <= 5        # the admin's 4, and the unit once
