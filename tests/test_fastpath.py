"""Lookups answered without the executor give the executor's answers (graph.fastpath).

Every `activity(id)` document of the test suite, and hostile ones, runs against two apps on
the same database, one with the fast path (the default) and one without
(JANGKAU_COMPILE_PAGES=0), as five callers and for every seeded activity, a missing one and a
malformed id; status, content type, body and the access-log rows each writes must be equal.
"""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.access_log import expand
from tests.conftest import Api, _client, settings_for
from tests.seed import S1, S3, aid
from tests.sql_log import logged_post, statements

ROOT = Path(__file__).resolve().parent.parent
IDS = [str(aid(n)) for n in (1, 3, 5, 6, 7)] + ["00000000-0000-4000-a000-999999999999",
                                                 "not-a-uuid"]

HOSTILE = [
    # Every field the compiler writes, __typename at every level.
    """query($id: ID!) { activity(id: $id) { __typename id category startedAt endedAt
        deviceTime receivedAt location accuracyMeters mockLocation citizensServed outcome
        outcomeMet note flags review confidence flagDetails { __typename flag explanation }
        staff { __typename id name nip active unit { __typename code name kind } }
        area { __typename code name level areaKm2 labelPoint } } }""",
    # Aliases, fragments, inline fragments, a named operation among others.
    """query Other { areas(level: KECAMATAN) { code } }
       query Look($id: ID!) { it: activity(id: $id) { ...A ... on Activity { when: startedAt }
         id } }
       fragment A on Activity { category staff { id } place: area { code } }""",
    # Not answered by the fast path: directives, fields it does not write, two roots.
    """query($id: ID!, $yes: Boolean!) { activity(id: $id) { id location @include(if: $yes) } }""",
    """query($id: ID!) { activity(id: $id) { id reviews { decision } } }""",
    """query($id: ID!) { activity(id: $id) { id area { geometry(zoom: 12) } } }""",
    """query($id: ID!) { __typename activity(id: $id) { id } }""",
    """query($id: ID!) { a: activity(id: $id) { id } b: activity(id: $id) { note } }""",
    # Invalid documents: the executor's coded errors either way.
    """query($id: ID!) { activity(id: $id) { id nope } }""",
    """query($id: String!) { activity(id: $id) { id } }""",
    """query($id: ID!) { activity(id: $id) { id } """,
]


def _documents() -> list[str]:
    """Every GraphQL string of the tests whose one operation reads `activity(id: $id)`."""
    found: dict[str, None] = {}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and "activity(id: $id)" in node.value):
                continue
            try:
                ops = [d for d in parse(node.value).definitions
                       if isinstance(d, OperationDefinitionNode)]
            except Exception:  # noqa: BLE001, S112 - not a document, a fragment of one
                continue
            if len(ops) == 1 and ops[0].operation.value == "query":
                found.setdefault(node.value, None)
    return list(found)


DOCUMENTS = _documents()
CALLERS = {"admin": ("admin", None, None), "supervisor": ("supervisor", S1, "DINKES"),
           "staff": ("staff", S3, None), "planner": ("planner", None, None),
           "anonymous": (None, None, None)}


@pytest.fixture
async def both(db_url: str) -> AsyncIterator[dict[bool, Any]]:
    """Two apps on one database: with the fast path (True) and without (False)."""
    from graph.app import create_app
    apps = {c: create_app(settings_for(db_url, compile_pages=c)) for c in (True, False)}
    async with apps[True].router.lifespan_context(apps[True]), \
            apps[False].router.lifespan_context(apps[False]):
        yield apps


async def _ask(app: Any, caller: str, body: dict[str, Any], engine: AsyncEngine,
               **headers: str) -> tuple[Any, ...]:
    r, logged = await logged_post(app, CALLERS[caller], body, engine, **headers)
    return (r.status_code, r.headers["content-type"], json.dumps(r.json(), sort_keys=True),
            logged)


@pytest.mark.parametrize("caller", sorted(CALLERS))
async def test_every_lookup_gives_the_same_answer_both_ways(
        both: dict[bool, Any], engine: AsyncEngine, caller: str) -> None:
    assert len(DOCUMENTS) >= 5           # the harvest found the suite's lookups
    differ = []
    for query in [*HOSTILE, *DOCUMENTS]:
        for id_ in IDS:
            op = "Look" if "query Look" in query else None
            body = {"query": query, "variables": {"id": id_, "yes": True}, "operationName": op}
            fast = await _ask(both[True], caller, body, engine)
            slow = await _ask(both[False], caller, body, engine)
            if fast != slow:
                differ.append((query, id_, fast, slow))
    assert not differ, differ[0]


async def test_literal_ids_media_types_and_nulls(both: dict[bool, Any],
                                                engine: AsyncEngine) -> None:
    """A literal id, the newer media type, a variable given as null or a number."""
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"query": f'{{ activity(id: "{aid(5)}") {{ id location }} }}'}, {}),
        ({"query": f'{{ activity(id: "{aid(5)}") {{ id }} }}'},
         {"accept": "application/graphql-response+json"}),
        ({"query": "query($id: ID!) { activity(id: $id) { id } }", "variables": {"id": None}},
         {"accept": "application/graphql-response+json"}),
        ({"query": "query($id: ID!) { activity(id: $id) { id } }", "variables": {"id": 5}}, {}),
        ({"query": "query($id: ID!) { activity(id: $id) { id } }", "variables": None}, {}),
    ]
    for body, headers in cases:
        fast = await _ask(both[True], "admin", body, engine, **headers)
        assert fast == await _ask(both[False], "admin", body, engine, **headers), body
    located = await _ask(both[True], "admin", cases[0][0], engine)
    assert json.loads(located[2])["data"]["activity"]["location"]["type"] == "Point"
    assert [w for *_, w, _ in located[3]] == ["Activity.location, activity"]


async def test_a_lookup_is_one_statement_and_its_log(both: dict[bool, Any]) -> None:
    """The fast path reads the activity, staff and kelurahan and writes its access-log journal
    row in one statement; the executor needs the activity, then its staff member and kelurahan
    by loader, then the access log's INSERT."""
    query = "query($id: ID!) { activity(id: $id) { id staff { name } area { code } } }"
    counts = {}
    for fast, app in both.items():
        api = Api(_client(app, "admin"))
        await api.data(query, {"id": str(aid(1))})
        with statements(api) as seen:
            data = await api.data(query, {"id": str(aid(3))})
        assert data["activity"]["area"]["code"] == "35.78.01.1001"
        counts[fast] = len(seen)
        await api.http.aclose()
    assert counts == {True: 1, False: 4}


async def test_lookups_asked_at_once_share_statements_and_keep_their_answers(
        both: dict[bool, Any], engine: AsyncEngine) -> None:
    """Lookups of concurrent requests go together (geo.lookups): fewer statements than
    lookups, and every caller gets the answer it gets alone, its access-log rows included,
    whoever else was in its statement (an admin, a staff member asking about their own and
    another's, a supervisor, a missing id, with and without the location)."""
    plain = "query($id: ID!) { activity(id: $id) { id staff { name } } }"
    located = "query($id: ID!) { activity(id: $id) { id location } }"
    asks = [(caller, query, id_) for caller in ("admin", "staff", "supervisor")
            for query in (plain, located) for id_ in IDS[:2] + IDS[5:6]]

    async def ask(app: Any, caller: str, query: str, id_: str) -> tuple[Any, ...]:
        role, sub, unit = CALLERS[caller]
        async with _client(app, role, str(sub) if sub else None, unit) as client:
            r = await client.post("/graphql", json={"query": query, "variables": {"id": id_}})
        return r.status_code, json.dumps(r.json(), sort_keys=True)

    async def log_rows() -> list[tuple[Any, ...]]:
        async with engine.connect() as c:
            await expand(c)
            return [tuple(x) for x in (await c.execute(text(
                "SELECT actor_sub, actor_role, subject_staff_id::text, what, detail::text"
                " FROM access_log ORDER BY id"))).all()]

    before = len(await log_rows())
    alone = [await ask(both[False], *a) for a in asks]
    logged_alone = sorted((await log_rows())[before:], key=str)
    api = Api(_client(both[True], "admin"))
    with statements(api, "access_log_pages") as seen:
        together = await asyncio.gather(*(ask(both[True], *a) for a in asks))
    await api.http.aclose()
    logged_together = sorted((await log_rows())[before + len(logged_alone):], key=str)
    assert together == alone
    assert logged_together == logged_alone
    assert {r[1] for r in logged_alone} == {"admin", "supervisor"}  # the executor's, too
    assert 1 <= len(seen) < len(asks)
