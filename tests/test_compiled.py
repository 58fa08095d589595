"""Compiled and resolved pages give the same answers (graph.compile).

Every query of the test suite and the README that reads `activities` or `flaggedActivities`,
and a set of hostile ones, runs against two apps on the same database, one compiling pages to
SQL JSON and one resolving every field (JANGKAU_COMPILE_PAGES=0), as four callers; the answers
(data and errors) must be equal after JSON normalisation, and so must the access-log rows each
writes. The schema has no interfaces or unions, so fragments are tried on the concrete types.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import parse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api, _client, settings_for
from tests.payloads import activity, new_id
from tests.seed import K1, K2, S1, S3
from tests.sql_log import logged_post, statements

ROOT = Path(__file__).resolve().parent.parent
PAGE_FIELDS = re.compile(r"\b(activities|flaggedActivities)\s*[({]")

HOSTILE: list[tuple[str, dict[str, Any]]] = [
    # Every compiled field, __typename at every level, on both orders.
    ("""{ activities(first: 20) { __typename totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { __typename cursor node { __typename id category startedAt endedAt deviceTime
          receivedAt location accuracyMeters mockLocation citizensServed outcome outcomeMet
          note flags review confidence flagDetails { __typename flag explanation }
          staff { __typename id name nip active unit { __typename code name kind } }
          area { __typename code name level areaKm2 labelPoint } } } } }""", {}),
    ("""{ flaggedActivities(review: [PENDING, ACCEPTED, REJECTED], orderBy: CONFIDENCE,
                            first: 5) {
        pageInfo { endCursor hasNextPage }
        edges { cursor node { id confidence flags flagDetails { explanation flag } } } } }""",
     {}),
    # Aliases of the same field with different arguments, and of edges and node fields.
    ("""{ a: activities(first: 2) { edges { node { id } } }
          b: activities(first: 3, filter: {unitCode: "dinkes"}) {
            e1: edges { c: cursor n: node { when: startedAt who: staff { id } } }
            e2: edges { node { id where: area { code } } } } }""", {}),
    # The same key twice, merged; fragments, nested spreads and inline fragments.
    ("""query { activities(first: 4) { edges { node { id ...A } } edges { node { id ...B } }
          ... on ActivityConnection { edges { cursor } } } }
        fragment A on Activity { category staff { ...S } ... { note } }
        fragment B on Activity { staff { id unit { code } } area { name } }
        fragment S on Staff { name }""", {}),
    # @skip and @include, literal and from variables.
    ("""query($yes: Boolean!, $no: Boolean!) { activities(first: 3) {
          edges @include(if: $yes) { node { id location @skip(if: $yes)
            staff @include(if: $no) { name } area @skip(if: false) { code } } }
          pageInfo @skip(if: $no) { hasNextPage } } }""", {"yes": True, "no": False}),
    ("""query($yes: Boolean!) { activities(first: 3) {
          edges { node { id location @include(if: $yes) } } } }""", {"yes": True}),
    # Variables, pages after a cursor, empty pages, null areas and times.
    ("""query($n: Int, $f: ActivityFilter) { activities(first: $n, filter: $f) {
          edges { node { id endedAt area { code } } } pageInfo { endCursor } } }""",
     {"n": 3, "f": {"outcomeMet": True}}),
    ("""{ activities(first: 5, filter: {period: {from: "2001-01-01", to: "2001-01-02"}}) {
          totalCount edges { cursor node { id } } pageInfo { startCursor endCursor } } }""",
     {}),
    ("""{ activities(first: 0) { edges { node { id } } pageInfo { hasNextPage } } }""", {}),
    # Refusals: the same codes either way.
    ("""{ activities(first: 5, after: "nope") { edges { node { id } } } }""", {}),
    ("""{ activities(first: 100000) { edges { node { id } } } }""", {}),
    ("""{ activities(filter: {areaCode: "99.99"}) { edges { node { id } } } }""", {}),
    # Fallbacks: fields the compiler does not write.
    ("""{ activities(first: 3) { edges { node { id reviews { decision }
          staff { unit { parent { code } office } } area { parent { code } } } } } }""", {}),
    ("""{ activities(first: 3) { edges { node { id area { geometry(zoom: 12) } } } } }""",
     {}),
]


def _documents() -> list[tuple[str, dict[str, Any]]]:
    """Every GraphQL string of the tests and the README that reads a page of activities."""
    found: dict[str, None] = {}
    texts: list[str] = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.append(node.value)
    texts += re.findall(r"```graphql\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    for t in texts:
        if not PAGE_FIELDS.search(t) or t.lstrip().startswith(("subscription", "mutation")):
            continue
        try:
            parse(t)
        except Exception:  # noqa: BLE001, S112 - not a document, a fragment of one
            continue
        found.setdefault(t, None)
    return [(t, {}) for t in found]


DOCUMENTS = _documents()
CALLERS = {"admin": ("admin", None, None), "supervisor": ("supervisor", S1, "DINKES"),
           "staff": ("staff", S3, None), "planner": ("planner", None, None)}


def _normal(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


@pytest.fixture
async def both(db_url: str, engine: AsyncEngine) -> AsyncIterator[dict[bool, Any]]:
    """Two apps on one database: compiling (True) and resolving (False)."""
    from graph.app import create_app
    await _more_rows(engine)
    apps = {c: create_app(settings_for(db_url, compile_pages=c)) for c in (True, False)}
    async with apps[True].router.lifespan_context(apps[True]), \
            apps[False].router.lifespan_context(apps[False]):
        yield apps


async def _more_rows(engine: AsyncEngine) -> None:
    """Values the seed lacks: microseconds, no kelurahan, nulls, quotes, flags with reasons."""
    async with engine.begin() as c:
        await c.execute(text("""
            INSERT INTO activities (id, staff_id, category_code, started_at, ended_at,
                device_time, geom, accuracy_m, mock_location, citizens_served, note, outcome_met)
            VALUES ('00000000-0000-4000-b000-000000000001', :s1, 'POSYANDU',
                    '2026-10-12 08:00:00.123456+07', NULL, '2026-10-12 08:00:01.5+07',
                    ST_SetSRID(ST_MakePoint(112.9, -7.1), 4326), 12.3, true, 0,
                    'kata "kutip" \\ dan é ☂', false),
                   ('00000000-0000-4000-b000-000000000002', :s1, 'POSYANDU',
                    '2026-10-12 09:00:00+07', '2026-10-12 10:00:00+07', NULL,
                    ST_SetSRID(ST_MakePoint(112.70, -7.33), 4326), 100, false, 2, '', true)"""),
            {"s1": S1})
        await c.execute(text("""
            UPDATE activities SET flags = ARRAY['MOCK_LOCATION', 'LOW_ACCURACY'],
                flag_notes = '{"MOCK_LOCATION": "the phone said \\"mock\\""}',
                review = 'PENDING', confidence = 0.488
            WHERE id = '00000000-0000-4000-b000-000000000001'"""))


async def _ask(app: Any, caller: str, query: str, variables: dict[str, Any],
               engine: AsyncEngine) -> tuple[str, list[Any]]:
    r, logged = await logged_post(app, CALLERS[caller],
                                  {"query": query, "variables": variables}, engine)
    return _normal(r.json()), logged


@pytest.mark.parametrize("caller", sorted(CALLERS))
async def test_every_query_gives_the_same_answer_both_ways(
        both: dict[bool, Any], engine: AsyncEngine, caller: str) -> None:
    assert len(DOCUMENTS) >= 10          # the harvest found the suite's queries
    differ = []
    for query, variables in [*HOSTILE, *DOCUMENTS]:
        compiled = await _ask(both[True], caller, query, variables, engine)
        resolved = await _ask(both[False], caller, query, variables, engine)
        if compiled != resolved:
            differ.append((query, compiled, resolved))
    assert not differ, differ[0]


async def test_the_hostile_queries_answer_something(both: dict[bool, Any],
                                                    engine: AsyncEngine) -> None:
    """The comparison above is worth something: pages have rows, refusals have codes."""
    first, _ = await _ask(both[True], "admin", HOSTILE[0][0], {}, engine)
    page = json.loads(first)["data"]["activities"]
    assert len(page["edges"]) == page["totalCount"] == 10
    node = next(e["node"] for e in page["edges"]
                if e["node"]["id"] == "00000000-0000-4000-b000-000000000001")
    assert node["startedAt"] == "2026-10-12T08:00:00.123456+07:00"
    assert node["area"] is None and node["accuracyMeters"] == 12.3
    assert node["flagDetails"][0] == {"__typename": "FlagDetail", "flag": "MOCK_LOCATION",
                                      "explanation": 'the phone said "mock"'}
    bad, _ = await _ask(both[True], "admin", HOSTILE[9][0], {}, engine)
    assert json.loads(bad)["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_compiled_page_is_one_statement(both: dict[bool, Any]) -> None:
    """Staff, unit and kelurahan are joined in the page's SQL, not loaded per row; answered
    by graph.fastpage, the page's statement writes its access-log journal row too."""
    query = HOSTILE[0][0].replace("totalCount", "")
    counts = {}
    for compiled, app in both.items():
        api = Api(_client(app, "admin"))
        await api.data("{ units { code } }")
        with statements(api) as seen:
            await api.data(query)
        counts[compiled] = len(seen)
        await api.http.aclose()
    # An admin read others' locations: resolved, the access log is one more INSERT.
    assert counts == {True: 1, False: 5}     # resolved: the page, staff, units, areas, log


async def test_a_filtered_page_is_one_statement_and_a_bad_filter_its_error(
        both: dict[bool, Any]) -> None:
    """graph.fastpage takes `filter` as the resolver does (strawberry's input classes, the
    filter's own checks): a filtered page is still its one statement, spatial or not, and a
    filter the resolver refuses is refused with the same code and message."""
    page = """query($f: ActivityFilter) { activities(first: 5, filter: $f) {
        edges { node { id location } } pageInfo { hasNextPage } } }"""
    api = Api(_client(both[True], "admin"))
    for f in ({"outcomeMet": True}, {"bbox": [112.5, -7.5, 113, -7]}):
        with statements(api) as seen:
            data = await api.data(page, {"f": f})
        assert len(seen) == 1 and "access_log_pages" in seen[0], f
        assert data["activities"]["edges"], f
    bad = {"period": {"from": "2026-10-31", "to": "2026-10-01"}}
    answers = []
    for app in both.values():
        other = Api(_client(app, "admin"))
        answers.append(await other.error(page, {"f": bad}))
        await other.http.aclose()
    assert answers[0] == answers[1] and answers[0]["extensions"]["code"] == "BAD_USER_INPUT"
    await api.http.aclose()


# The results of recordActivities / recordActivity: written whole (graph.resolvers.mutations)
# unless they ask for the stored activity, which is resolved either way.
RESULTS = [
    "{ id status error { code message } }",
    "{ __typename s: status ...R e: error { __typename m: message c: code } }",
    "{ id status @skip(if: $no) error @include(if: $yes) { code } }",
    "{ id status activity { id category } }",
]
FRAGMENT = "fragment R on RecordResult { id }"


def _batch(first: int) -> list[dict[str, Any]]:
    """Items whose answers are every status and error, under ids from `first` on."""
    mine = activity(first, K1, staffId=str(S3))
    return [mine, dict(mine), dict(mine, note="other content"),           # new, same, conflict
            activity(first + 1, K2, staffId=str(S1)),                    # not the staff's own
            activity(first + 2, K1, staffId=str(S3), category="POSYANDUU"),   # unknown code
            dict(activity(first + 3, K1, staffId=str(S3)), id="not-a-uuid"),
            activity(first + 4, K1, staffId=str(S3), startedAt="2099-01-01T08:00:00+07:00")]


def _record(selection: str, many: bool) -> str:
    field = ("recordActivities(inputs: $i)" if many else "recordActivity(input: $i)")
    kind = "[ActivityInput!]!" if many else "ActivityInput!"
    flags = ", $yes: Boolean!, $no: Boolean!" if "$yes" in selection else ""
    return (f"mutation($i: {kind}{flags}) {{ {field} {selection} }}"
            + (f" {FRAGMENT}" if "...R" in selection else ""))


@pytest.mark.parametrize("caller", ["admin", "staff"])
async def test_record_results_are_the_same_both_ways(
        both: dict[bool, Any], engine: AsyncEngine, caller: str) -> None:
    who = CALLERS["admin"] if caller == "admin" else ("staff", S3, "KEC-357801")
    differ, statuses = [], []
    for n, (selection, many) in enumerate((s, m) for s in RESULTS for m in (True, False)):
        answers = {}
        for compiled in (True, False):
            first = 1000 + 100 * n + (50 if compiled else 0)
            batch = _batch(first)
            r, logged = await logged_post(both[compiled], who, {
                "query": _record(selection, many),
                "variables": {"i": batch if many else batch[0], "yes": True, "no": False}},
                engine)
            body = _normal(r.json())
            for k in range(5):      # the same answers under each side's own ids
                body = body.replace(new_id(first + k), f"item {k}")
            answers[compiled] = body, logged
        if answers[True] != answers[False]:
            differ.append((selection, many, answers))
        statuses.append(json.loads(answers[True][0]))
    assert not differ, differ[0]
    # The comparison is worth something: every status, the errors' codes, a stored activity.
    assert "errors" not in statuses[0], statuses[0]
    batch = statuses[0]["data"]["recordActivities"]
    others = "CREATED" if caller == "admin" else "REJECTED"     # an admin records anyone's
    assert [r["status"] for r in batch] == ["CREATED", "DUPLICATE", "REJECTED", others,
                                            "REJECTED", "REJECTED", "REJECTED"]
    assert [r["error"] and r["error"]["code"] for r in batch] == [
        None, None, "CONFLICT", None if caller == "admin" else "FORBIDDEN", "NOT_FOUND",
        "BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert statuses[6]["data"]["recordActivities"][0]["activity"]["category"] == "POSYANDU"
