"""Limits against abuse: each configurable, each refusal coded and naming its limit."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import graphql
import orjson
import pytest
from graphql import ValidationContext, ValidationRule, parse, validate
from sqlalchemy import text

from geo.db import create_engine
from geo.settings import Settings
from graph.app import create_app
from graph.cost import RULES, Caps, operation_cost
from graph.persisted import sha256
from graph.schema import schema
from tests.conftest import Api, serve, settings_for
from tests.dbstate import fingerprint
from tests.payloads import RECORD_MANY, activity

UNITS = "{ units { code } }"
SDL = graphql.build_schema(schema.as_str())


@pytest.fixture
async def served(module_db_url: str) -> AsyncIterator[Any]:
    """`served(**overrides)`: the app with those settings, on the module's database."""
    apps: list[AsyncIterator[Api]] = []

    async def start(**overrides: Any) -> Api:
        gen = serve(settings_for(module_db_url, **overrides))
        apps.append(gen)
        return await gen.__anext__()

    yield start
    for gen in apps:
        await gen.aclose()


async def refusal(api: Api, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """A request error: no data at all, one coded error."""
    body = await api.post(query, variables)
    assert "data" not in body, body
    err: dict[str, Any] = body["errors"][0]
    return err


def nested_parents(n: int) -> str:
    return "{ units " + "{ parent " * n + "{ code }" + " }" * n + " }"


# -- depth, aliases, tokens -------------------------------------------------------------------


async def test_depth_over_the_default_is_too_complex(served: Any) -> None:
    api = await served()
    assert (await api.data(nested_parents(10)))["units"]
    err = await refusal(api, nested_parents(13))
    assert err["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    assert "exceeds maximum operation depth of 12 (max_depth = 12)" in err["message"]


async def test_depth_is_configurable(served: Any) -> None:
    api = await served(max_depth=2)
    assert (await api.data(nested_parents(1)))["units"]
    err = await refusal(api, nested_parents(2))
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "max_depth = 2" in err["message"]


def aliased(n: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"


async def test_aliases_over_the_limit_are_too_complex(served: Any) -> None:
    api = await served()
    assert len(await api.data(aliased(30))) == 30
    err = await refusal(api, aliased(31))
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert err["message"] == "31 aliases found. Allowed: 30 (max_aliases = 30)"
    small = await served(max_aliases=2)
    assert "max_aliases = 2" in (await refusal(small, aliased(3)))["message"]


async def test_tokens_over_the_limit_are_too_complex(served: Any) -> None:
    api = await served()
    err = await refusal(api, "{ units { " + "code " * 2_000 + "} }")
    assert err == {"message": "the query has more than 2,000 tokens (max_tokens = 2,000)",
                   "extensions": {"code": "QUERY_TOO_COMPLEX"}}
    small = await served(max_tokens=7)
    assert (await small.data("{ units { code name } }"))["units"]   # 7 tokens
    assert "max_tokens = 7" in (await refusal(small, "{ units { code name kind } }"))["message"]


def doubling(n: int) -> str:
    """Fragment i spreads fragment i-1 twice: n lines of text, 2**n fields once unfolded."""
    frags = ["fragment F0 on Unit { code }"] + [
        f"fragment F{i} on Unit {{ a: parent {{ ...F{i - 1} }} b: parent {{ ...F{i - 1} }} }}"
        for i in range(1, n)]
    return f"{{ units {{ ...F{n - 1} }} }}\n" + "\n".join(frags)


async def test_fragments_that_unfold_past_the_token_budget_are_refused(served: Any) -> None:
    """Strawberry's depth and alias walks are exponential in such a query: they never see it."""
    api = await served(max_depth=100, max_aliases=10**9)
    err = await refusal(api, doubling(40))
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "unfolds through its fragments to more than 2,000 fields (max_tokens" in err["message"]


async def test_a_chain_of_fragments_too_deep_to_walk_is_too_complex(served: Any) -> None:
    """Past Python's recursion limit (with a raised token budget): refused, not a crash."""
    api = await served(max_tokens=50_000)
    frags = ["fragment F0 on Unit { code }"] + [
        f"fragment F{i} on Unit {{ parent {{ ...F{i - 1} }} }}" for i in range(1, 1_500)]
    err = await refusal(api, "{ units { ...F1499 } }\n" + "\n".join(frags))
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "max_depth = 12" in err["message"]


async def test_a_fragment_cycle_is_a_validation_error(served: Any) -> None:
    api = await served()
    err = await refusal(api, "{ units { ...A } } fragment A on Unit { parent { ...A } }")
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Cannot spread fragment 'A' within itself" in err["message"]


async def test_a_request_error_is_400_with_the_graphql_response_media_type(served: Any) -> None:
    api = await served()
    r = await api.http.post("/graphql", json={"query": aliased(31)},
                            headers={"Accept": "application/graphql-response+json"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


# -- cost -------------------------------------------------------------------------------------

EXPENSIVE = """{ activities(first: 500) { edges { node { area {
    parent { geometry children { geometry } } } } } } }"""


async def test_a_query_over_the_cost_limit_is_too_complex(served: Any) -> None:
    api = await served()
    err = await refusal(api, "query Heavy " + EXPENSIVE)
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert err["message"].startswith("'Heavy' costs 25,796,")
    assert "more than max_cost = 25,000" in err["message"]


async def test_the_cost_limit_is_configurable(served: Any) -> None:
    query = "{ areas(level: KELURAHAN) { code geometry } }"
    assert len((await (await served()).data(query))["areas"]) == 153
    err = await refusal(await served(max_cost=900), query)
    assert err["message"].startswith("the operation costs 933, more than max_cost = 900")


def price(query: str, max_first: int = 500, max_batch: int = 1_000,
          max_period_days: int = 400) -> float:
    costs: list[float] = []
    caps = Caps(max_first=max_first, max_batch=max_batch, max_period_days=max_period_days)

    class Collect(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            costs.extend(operation_cost(context, op, caps) for op in context.document.definitions
                         if isinstance(op, graphql.OperationDefinitionNode))

    assert validate(SDL, parse(query)) == []
    validate(SDL, parse(query), [Collect])
    return costs[0]


P = '{from: "2026-10-01", to: "2026-10-31"}'


@pytest.mark.parametrize(("query", "cost"), [
    # 153 kelurahan; a full-resolution boundary has 51 vertices on average: 5.1 each
    ("{ areas(level: KELURAHAN) { code } }", 153),
    ("{ areas(level: KELURAHAN) { code geometry } }", 153 * (1 + 5.1)),
    ("{ areas(level: KELURAHAN) { geometry(zoom: 12) } }", 153 * (1 + 5.3)),
    ('{ areas(parentCode: "35.78.01") { code } }', 4.9),
    ("{ areas { code } }", 185),
    (f"{{ coverageMap(level: KELURAHAN, period: {P}) }}", 153 * (1 + 5.5)),
    (f"{{ coverageMap(level: KECAMATAN, period: {P}, zoom: 5) }}", 31 * (1 + 9.0)),
    # the map page: level and zoom are variables, so all 185 areas at their heaviest band
    (f"query($l: AreaLevel!, $z: Int) {{ coverageMap(level: $l, period: {P}, zoom: $z) }}",
     185 + (2_875 + 31 * 181 + 153 * 55) / 10),
    (f"{{ coverage(level: KECAMATAN, period: {P}) {{ area {{ children {{ code }} }} }} }}",
     31 * (1 + 1 + 4.9)),
    ('{ area(code: "35.78") { children { children { code } } } }', 1 + 31 * (1 + 4.9)),
    ('{ area(code: "35.78.01.1001") { parent { geometry } } }', 1 + 1 + 17.7),
    # 335 km² in hexagons of 500 m edge: 516 cells of 1 + 7 vertices / 10
    (f"{{ hexbins(period: {P}, cellSizeMeters: 500) }}", 516 * 1.7),
    (f"{{ hexbins(period: {P}, cellSizeMeters: 1) }}", 10_000 * 1.7),
    ("{ activities { edges { node { id } } } }", 1 + 50 * 2),
    ("{ activities(first: 10) { totalCount edges { node { id } } } }", 1 + 1 + 10 * 2),
    ("query($n: Int) { activities(first: $n) { edges { node { id } } } }", 1 + 500 * 2),
    ("query($n: Int = 5) { activities(first: $n) { edges { node { id } } } }", 1 + 5 * 2),
    ("{ activities(first: 99999) { edges { node { id } } } }", 1 + 500 * 2),
    ("{ activities(first: 2) { edges { node { staff { unit { code } } reviews { id } } } } }",
     1 + 2 * (1 + 1 + 1 + 1 + 10)),
    ("{ nearestActivities(lon: 112.7, lat: -7.3, limit: 7) { activity { id } } }", 7 * 2),
    ("mutation($i: [ActivityInput!]!) { recordActivities(inputs: $i) { id } }", 1_000),
    ("{ units { code } }", 10),
    ("{ units { ...U } } fragment U on Unit { parent { code } }", 10 * 2),
    ("{ __schema { types { name fields { name } } } }", 0),
    # a series: its areas x (1 + its buckets); October by ISO week is 5 clipped weeks
    (f"{{ coverageSeries(level: KELURAHAN, period: {P}, bucket: WEEK) {{ points {{ start }} }} }}",
     153 * (1 + 5)),
    (f"{{ coverageSeries(level: CITY, period: {P}, bucket: DAY) {{ area {{ code }} "
     "points { activities } } }", 1 * (1 + 1 + 31)),
    # a variable period counts as the longest (400 days); a variable bucket as DAY
    ("query($p: Period!) { coverageSeries(level: CITY, period: $p, bucket: MONTH) "
     "{ points { start } } }", 1 * (1 + 400 // 28 + 2)),
    ("query($p: Period!, $b: Bucket!) { coverageSeries(level: KECAMATAN, period: $p, "
     "bucket: $b) { points { start } } }", 31 * (1 + 400)),
])
def test_cost_model(query: str, cost: float) -> None:
    assert price(query) == pytest.approx(cost)


def test_caps_apply_to_variables_without_a_default() -> None:
    page = "query($n: Int) { activities(first: $n) { edges { cursor } } }"
    batch = "mutation($i: [ActivityInput!]!) { recordActivities(inputs: $i) { id } }"
    assert price(page, max_first=20) == 1 + 20
    assert price(batch, max_batch=3) == 3


def test_every_priced_field_exists() -> None:
    """A renamed field would silently fall back to the default price."""
    for key in RULES:
        type_name, field = key.split(".")
        owner = SDL.get_type(type_name)
        assert isinstance(owner, graphql.GraphQLObjectType), key
        assert field in owner.fields, key


# -- maximum first, batch, within vertices ----------------------------------------------------


async def test_max_first_is_configurable(served: Any) -> None:
    api = await served(max_first=2)
    page = (await api.data("{ activities(first: 2) { edges { cursor } } }"))["activities"]
    assert len(page["edges"]) == 2
    err = await api.error("{ activities(first: 3) { edges { cursor } } }")
    assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "the maximum page size (max_first) is 2" in err["message"]


async def test_max_batch_refuses_the_whole_batch(served: Any) -> None:
    api = await served(max_batch=2)
    engine = api.http.app.state.engine  # type: ignore[attr-defined]
    before = await fingerprint(engine)
    err = await api.error(RECORD_MANY, {"i": [activity(n) for n in range(3)]})
    assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "3 activities in one batch; the maximum (max_batch) is 2" in err["message"]
    assert await fingerprint(engine) == before


def ring(n: int) -> list[list[float]]:
    """A closed ring of n positions around central Surabaya."""
    pts = [[round(112.74 + 0.02 * math.cos(2 * math.pi * i / (n - 1)), 6),
            round(-7.27 + 0.02 * math.sin(2 * math.pi * i / (n - 1)), 6)] for i in range(n - 1)]
    return [*pts, pts[0]]


async def test_max_within_vertices_is_configurable(served: Any) -> None:
    api = await served(max_within_vertices=8)
    query = "query($f: ActivityFilter) { activities(filter: $f) { totalCount } }"
    ok = await api.data(query, {"f": {"within": {"type": "Polygon", "coordinates": [ring(8)]}}})
    assert ok["activities"]["totalCount"] >= 0
    err = await api.error(query, {"f": {"within": {"type": "Polygon", "coordinates": [ring(9)]}}})
    assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "9 positions is more than the limit of 8 (max_within_vertices)" in err["message"]


# -- the request body -------------------------------------------------------------------------


def too_large(r: Any, limit: str) -> None:
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["errors"][0]
    assert err["extensions"] == {"code": "LIMIT_EXCEEDED"}
    assert f"larger than {limit} bytes (max_body_bytes" in err["message"]


async def test_a_body_over_one_mebibyte_is_413(served: Any) -> None:
    api = await served()
    padding = " " * (1_048_576 - len(UNITS) - 20)
    fits = orjson.dumps({"query": UNITS + padding})
    assert len(fits) <= 1_048_576
    r = await api.http.post("/graphql", content=fits, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["data"]["units"]
    over = orjson.dumps({"query": UNITS + padding + " " * 100})
    r = await api.http.post("/graphql", content=over, headers={"Content-Type": "application/json"})
    too_large(r, "1,048,576")


async def test_a_streamed_body_is_counted_as_it_arrives(served: Any) -> None:
    api = await served(max_body_bytes=1_000)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ units { code } }", "pad": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    r = await api.http.post("/graphql", content=chunks(),
                            headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    too_large(r, "1,000")


# -- statement timeout ------------------------------------------------------------------------


async def test_a_statement_timeout_is_limit_exceeded(db_url: str) -> None:
    """A lock held elsewhere keeps the query waiting until statement_timeout cancels it."""
    locker = create_engine(db_url, pool_size=1)
    async for api in serve(settings_for(db_url, statement_timeout_ms=200)):
        async with locker.connect() as conn:
            await conn.execute(text("LOCK TABLE activities IN ACCESS EXCLUSIVE MODE"))
            err = await api.error("{ activities { totalCount } }")
            await conn.rollback()
        assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "statement_timeout = 200 ms (JANGKAU_STATEMENT_TIMEOUT_MS)" in err["message"]
        assert (await api.data("{ activities { totalCount } }"))["activities"]["totalCount"] > 0
    await locker.dispose()


# -- persisted queries ------------------------------------------------------------------------


def persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}


async def test_persisted_queries_only(served: Any, tmp_path: Path) -> None:
    path = tmp_path / "queries.json"
    path.write_bytes(orjson.dumps({sha256(UNITS): UNITS}))
    api = await served(persisted_queries=path)
    r = await api.http.post("/graphql", json={"extensions": persisted(UNITS)})
    codes = [u["code"] for u in r.json()["data"]["units"]]
    assert codes == ["DINKES", "KEC-357801", "PEMKOT"]
    r = await api.http.get("/graphql",
                           params={"extensions": orjson.dumps(persisted(UNITS)).decode()})
    assert [u["code"] for u in r.json()["data"]["units"]] == codes
    r = await api.http.post("/graphql", json={"query": UNITS, "extensions": persisted(UNITS)})
    assert [u["code"] for u in r.json()["data"]["units"]] == codes

    cases = [
        ({"query": UNITS}, "PERSISTED_QUERY_REQUIRED"),
        ({"query": UNITS, "extensions": {"persistedQuery": {"version": 1}}},
         "PERSISTED_QUERY_REQUIRED"),
        ({"extensions": persisted("{ units { name } }")}, "PERSISTED_QUERY_NOT_FOUND"),
        ({"query": "{ units { name } }", "extensions": persisted(UNITS)}, "BAD_REQUEST"),
    ]
    for body, code in cases:
        r = await api.http.post("/graphql", json=body)
        assert r.status_code == 200
        assert "data" not in r.json()
        assert r.json()["errors"][0]["extensions"] == {"code": code}, body


@pytest.mark.parametrize(("content", "words"), [
    (b'{"0000": "{ units { code } }"}', "not the SHA-256 of their query"),
    (b'["{ units { code } }"]', "must be a JSON object"),
    (b"{", "cannot read"),
])
def test_a_bad_persisted_map_stops_the_start(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "queries.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words):
        create_app(Settings(persisted_queries=path))


# -- introspection ----------------------------------------------------------------------------


async def test_introspection_can_be_switched_off(served: Any) -> None:
    on = await served()
    assert (await on.data("{ __schema { queryType { name } } }")) == {
        "__schema": {"queryType": {"name": "Query"}}}
    off = await served(introspection=False)
    err = await refusal(off, "{ __schema { queryType { name } } }")
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection has been disabled" in err["message"]
    assert (await off.data("{ __typename }")) == {"__typename": "Query"}


# -- settings ---------------------------------------------------------------------------------


def test_limits_are_read_from_the_environment(tmp_path: Path) -> None:
    s = Settings.from_env({
        "JANGKAU_MAX_DEPTH": "5", "JANGKAU_MAX_ALIASES": "6", "JANGKAU_MAX_TOKENS": "700",
        "JANGKAU_MAX_COST": "800", "JANGKAU_MAX_BODY_BYTES": "900", "JANGKAU_MAX_FIRST": "10",
        "JANGKAU_MAX_BATCH": "11", "JANGKAU_MAX_WITHIN_VERTICES": "12",
        "JANGKAU_STATEMENT_TIMEOUT_MS": "1300", "JANGKAU_INTROSPECTION": "0",
        "JANGKAU_PERSISTED_QUERIES": str(tmp_path / "q.json")})
    assert (s.max_depth, s.max_aliases, s.max_tokens, s.max_cost, s.max_body_bytes,
            s.max_first, s.max_batch, s.max_within_vertices, s.statement_timeout_ms) == (
        5, 6, 700, 800, 900, 10, 11, 12, 1300)
    assert s.introspection is False
    assert s.persisted_queries == tmp_path / "q.json"


def test_limit_defaults() -> None:
    s = Settings.from_env({})
    assert (s.max_depth, s.max_aliases, s.max_tokens, s.max_cost, s.max_body_bytes) == (
        12, 30, 2_000, 25_000, 1_048_576)
    assert (s.max_first, s.max_batch, s.max_within_vertices, s.statement_timeout_ms) == (
        500, 1_000, 5_000, 8_000)
    assert s.introspection is True and s.persisted_queries is None
