"""Errors and GraphQL over HTTP: coded refusals, masked bugs, GET/POST/GraphiQL as expected."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.errors import ERROR_CODES
from graph.errors import INTERNAL_MESSAGE
from tests.conftest import Api, serve, settings_for
from tests.seed import K1

BOWTIE = {"type": "Polygon", "coordinates": [[[112.70, -7.30], [112.75, -7.25], [112.75, -7.30],
                                               [112.70, -7.25], [112.70, -7.30]]]}
OPEN_RING = {"type": "Polygon", "coordinates": [[[112.7, -7.3], [112.8, -7.3], [112.8, -7.2]]]}
ACTIVITIES = """query($f: ActivityFilter, $n: Int) {
    activities(filter: $f, first: $n) { totalCount } }"""
COVERAGE = "query($p: Period!) { coverage(level: KELURAHAN, period: $p) { activities } }"
SET_TARGET = "mutation($i: TargetInput!) { setTarget(input: $i) { id } }"


def activities(**f: Any) -> tuple[str, dict[str, Any]]:
    return ACTIVITIES, {"f": f}


def near(lon: float, lat: float, radius: float) -> tuple[str, dict[str, Any]]:
    return activities(near={"lon": lon, "lat": lat, "radiusMeters": radius})


def coverage(start: str, end: str) -> tuple[str, dict[str, Any]]:
    return COVERAGE, {"p": {"from": start, "to": end}}


def set_target(indicator: str, **period: Any) -> tuple[str, dict[str, Any]]:
    return SET_TARGET, {"i": {"indicator": indicator, "areaCode": K1, "value": 1, **period}}


CASES: list[tuple[str, tuple[str, dict[str, Any]], str]] = [
    ("BAD_USER_INPUT", coverage("2026-10-31", "2026-10-01"), "is after"),
    ("BAD_USER_INPUT", activities(staffId="S1"), "not a UUID"),
    ("BAD_USER_INPUT", activities(bbox=[112.8, -7.2, 112.7, -7.3]), "min must not exceed max"),
    ("BAD_USER_INPUT", near(112.7, -7.3, -5), "non-negative"),
    ("INVALID_GEOMETRY", activities(within=BOWTIE), "Self-intersection"),
    ("INVALID_GEOMETRY", activities(within={"type": "Point", "coordinates": [112.7, -7.3]}),
     "expected Polygon or MultiPolygon"),
    ("INVALID_GEOMETRY", activities(within=OPEN_RING), "at least 4 positions"),
    ("INVALID_GEOMETRY", near(-7.3, 112.7, 5), "swap them"),
    ("NOT_FOUND", activities(areaCode="35.78.77"), "unknown area code '35.78.77'"),
    ("NOT_FOUND", set_target("NOPE", month="2026-11"), "unknown indicator 'NOPE'"),
    ("CONFLICT", set_target("BALITA", period={"from": "2026-10-31", "to": "2026-11-02"}),
     "change that one or pick another period"),
    ("LIMIT_EXCEEDED", coverage("2025-01-01", "2026-10-31"), "maximum of 400 days"),
    ("LIMIT_EXCEEDED", (ACTIVITIES, {"n": 10_000}), "max_first"),
    ("LIMIT_EXCEEDED", near(112.7, -7.3, 60_000), "exceeds the maximum"),
]


@pytest.mark.parametrize(("code", "request_", "words"), CASES)
async def test_refusals_carry_a_code_and_a_message(api: Api, code: str,
                                                    request_: tuple[str, dict[str, Any]],
                                                    words: str) -> None:
    err = await api.error(*request_)
    assert err["extensions"] == {"code": code}
    assert words in err["message"]


def test_every_documented_refusal_is_exercised() -> None:
    not_refusals = {"DATABASE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"}
    assert {c[0] for c in CASES} == set(ERROR_CODES) - not_refusals


async def test_an_unexpected_failure_is_masked(db_url: str, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE activities CASCADE"))
    async for api in serve(settings_for(db_url)):
        r = await api.http.post("/graphql", json={"query": "{ activities { totalCount } }"})
        body = r.json()
        assert body["errors"] == [{"message": INTERNAL_MESSAGE, "path": ["activities"],
                                   "locations": [{"line": 1, "column": 3}],
                                   "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]
        for leak in ("Traceback", "SELECT", "relation", "asyncpg", "sqlalchemy", ".py"):
            assert leak not in r.text
        # The rest of the schema still answers.
        assert (await api.data('{ area(code: "35.78") { level } }')) == {"area": {"level": "CITY"}}


async def test_get_runs_a_query(api: Api) -> None:
    r = await api.http.get("/graphql", params={
        "query": "query($c: String!) { area(code: $c) { level } }",
        "variables": '{"c": "35.78.01"}'})
    assert r.status_code == 200
    assert r.json() == {"data": {"area": {"level": "KECAMATAN"}}}


async def test_get_refuses_a_mutation(api: Api) -> None:
    r = await api.http.get("/graphql", params={
        "query": 'mutation { setTarget(input: {indicator: "BALITA", areaCode: "35.78.02.1001", '
                 'value: 1, month: "2026-11"}) { id } }'})
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "not allowed when using GET" in r.json()["errors"][0]["message"]
    assert (await api.data('{ area(code: "35.78.02.1001") { targets(period: {from: "2026-11-01", '
                           'to: "2026-11-30"}) { id } } }')) == {"area": {"targets": []}}


async def test_post_with_graphql_response_json(api: Api) -> None:
    r = await api.http.post("/graphql", json={"query": "{ units { code } }"},
                            headers={"Accept": "application/graphql-response+json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/graphql-response+json")
    assert [u["code"] for u in r.json()["data"]["units"]] == ["DINKES", "KEC-357801", "PEMKOT"]


async def test_graphql_response_json_answers_a_request_error_with_400(api: Api) -> None:
    r = await api.http.post("/graphql", json={"query": "{ units { colour } }"},
                            headers={"Accept": "application/graphql-response+json"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/graphql-response+json")
    assert "data" not in r.json()
    assert r.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_graphql_response_json_answers_a_field_error_with_200(api: Api) -> None:
    accept = "application/graphql-response+json, application/json;q=0.9"
    query = '{ areas(parentCode: "35.78.99") { code } }'
    r = await api.http.post("/graphql", json={"query": query}, headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/graphql-response+json")
    assert r.json()["data"] is None
    assert r.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_post_application_json(api: Api) -> None:
    r = await api.http.post("/graphql", json={"query": "{ units { code } }"},
                            headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")


async def test_malformed_json_is_a_coded_json_error(api: Api) -> None:
    r = await api.http.post("/graphql", content=b'{"query": "{ units { code } }"',
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_REQUEST"
    assert "JSON" in err["message"]


async def test_a_lone_surrogate_is_malformed_json(api: Api) -> None:
    """Text that is not Unicode could be neither stored nor echoed: refused before anything runs."""
    body = (b'{"query": "mutation($i: TargetInput!) { setTarget(input: $i) { id } }", "variables": '
            b'{"i": {"indicator": "BALITA\\ud800", "areaCode": "35.78.02.1001", "value": 1, '
            b'"month": "2026-11"}}}')
    r = await api.http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_missing_query_is_a_coded_error(api: Api) -> None:
    r = await api.http.post("/graphql", json={"variables": {}})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(("query", "variables", "words"), [
    ("query($n: Int) { activities(first: $n) { totalCount } }", {"n": "ten"},
     "'$n' has invalid value"),
    ("query($n: Int!) { activities(first: $n) { totalCount } }", {}, "non-null type 'Int!'"),
    (COVERAGE, {"p": {"from": "2026-13-01", "to": "2026-10-31"}}, "cannot represent a Date"),
    (COVERAGE, {"p": {"from": "2026-10-01"}}, "'to'"),
])
async def test_a_variable_of_the_wrong_type_is_bad_input(api: Api, query: str,
                                                         variables: dict[str, Any],
                                                         words: str) -> None:
    body = await api.post(query, variables)
    assert "data" not in body
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert words in err["message"]


async def test_an_unused_variable_is_a_validation_failure(api: Api) -> None:
    err = await api.error("query($n: Int) { units { code } }", {"n": 1})
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "never used" in err["message"]


async def test_wrong_literal_type_is_a_coded_error(api: Api) -> None:
    err = await api.error('{ activities(first: "ten") { totalCount } }')
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Int" in err["message"]


async def test_syntax_error_is_a_coded_error(api: Api) -> None:
    body = await api.post("{ units { code }")
    assert "data" not in body
    err = body["errors"][0]
    assert err["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "Syntax Error" in err["message"]


async def test_unknown_field_is_a_coded_error(api: Api) -> None:
    err = await api.error("{ units { colour } }")
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "colour" in err["message"]


async def test_graphiql_is_served_to_a_browser(api: Api) -> None:
    r = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "graphiql" in r.text.lower()


async def test_graphiql_can_be_turned_off(db_url: str) -> None:
    async for api in serve(settings_for(db_url, graphiql=False)):
        r = await api.http.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in r.text.lower()
        assert r.status_code >= 400


SHARED_KEY = """{ areas { code
    parent { code geometry }
    children { code geometry distanceTo(lon: 112.75, lat: 1e308) } } }"""


async def test_a_failing_field_does_not_cancel_a_load_its_siblings_share(api: Api) -> None:
    """Found by tests/test_fuzz_schema.py: a kecamatan's geometry is loaded as the city's child
    and as a kelurahan's parent; distanceTo fails and graphql-core cancels its siblings, which
    cancelled the shared load under the other awaiter: the request died of a CancelledError
    (every second time, as the cache then held a cancelled future)."""
    for _ in range(4):
        r = await api.http.post("/graphql", json={"query": SHARED_KEY})
        assert r.status_code == 200
        body = r.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_GEOMETRY"]
        assert "distanceTo: [112.75, 1e+308] is out of range" in body["errors"][0]["message"]
