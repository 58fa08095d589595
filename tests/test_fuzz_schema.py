"""The schema, walked: every root query field and mutation gets hostile values for every argument
and every input field (huge and negative numbers, 400-digit integers, NaN and infinities,
dates beyond the supported range in every UTC offset, NUL and unicode in strings, deep and huge
GeoJSON), as variables or as literals in the document, through the real HTTP app. Fields of
the answer that take arguments of their own (`Area.geometry(zoom)`, `Area.coverage(period)`)
are asked for now and then, with fuzzed arguments too.

No answer may be a 5xx or carry INTERNAL_SERVER_ERROR (as an error or as a record's in-band
answer), and a refused mutation changes nothing in the database. Fields are read from the
introspected schema, so a field added later is fuzzed without touching this file.
tests/test_fuzz.py throws structured junk at a few chosen queries; this module covers breadth.

Derandomised, BUDGET examples per root field as an admin and BUDGET_SUPERVISOR as a
supervisor; `pytest tests/test_fuzz_schema.py -s` prints how many inputs were sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import graphql
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.errors import CLIENT_CODES
from graph.schema import schema
from tests.conftest import Api, serve, settings_for
from tests.dbstate import fingerprint
from tests.seed import K1, KEC1, S1, S2, aid
from tests.test_fuzz import LEAKS

BUDGET = 30
BUDGET_SUPERVISOR = 10
FUZZ = settings(max_examples=BUDGET, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
SDL = graphql.build_schema(schema.as_str())
ROOTS: list[tuple[str, str, GraphQLField]] = [
    (root.name, name, field)
    for root in (SDL.query_type, SDL.mutation_type) if root is not None
    for name, field in root.fields.items()]
SENT: dict[str, int] = {}


@dataclass(frozen=True)
class Raw:
    """A value JSON and GraphQL write differently: `text` in a document, `json` in variables."""

    text: str
    json: Any


@dataclass(frozen=True)
class Enum:
    """An enum value: a bare name in a document, a string in variables."""

    name: str


# -- leaves: a plausible value (so that a request gets past the first check), or a hostile one --

EDGE_DAYS = ["0001-01-01", "9999-12-31", "1999-12-31", "2000-01-01", "2100-12-31", "2101-01-01",
             "1970-01-01", "2026-02-29"]
OFFSETS = ["+07:00", "-05:00", "+14:00", "-12:00", "Z", "+23:59", "-23:59", "+00:00", ""]
TIMES = ["00:00:00", "23:59:59", "09:30:00.123456"]
HOSTILE_TEXT = ["", "\x00", "a\x00b", "🏳️‍🌈" * 20, "x" * 5_000, "'; DROP TABLE activities; --",
                "\u202eRTL", "\ud7ff\ue000", "NaN", "Infinity", "-Infinity", "null", " "]
HUGE = "1" * 400
RAWS = [Raw(HUGE, int(HUGE)), Raw("-" + HUGE, -int(HUGE)), Raw("1e400", math.inf),
        Raw("-1e400", -math.inf), Raw("NaN", math.nan), Raw(HUGE + ".5", math.inf)]


def ring(x: float, y: float, d: float) -> list[list[Any]]:
    return [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]


def nested(depth: int) -> Any:
    value: Any = [112.75, -7.25]
    for _ in range(depth):
        value = [value]
    return value


POINT = {"type": "Point", "coordinates": [112.75, -7.25]}
SQUARE = {"type": "Polygon", "coordinates": [ring(112.7, -7.3, 0.05)]}
BIG_RING = [[112.7 + 0.05 * math.cos(2 * math.pi * i / 6_000),
             -7.27 + 0.05 * math.sin(2 * math.pi * i / 6_000)] for i in range(6_000)]
coordinates = st.one_of(st.floats(112.6, 112.85), st.sampled_from(RAWS),
                        st.sampled_from([181.0, -91.0, 1e308, -0.0, "112.7", None, True]))
positions = st.one_of(st.lists(coordinates, min_size=2, max_size=2),
                      st.lists(coordinates, max_size=4))
hostile_geojson = st.one_of(
    st.builds(lambda p: {"type": "Point", "coordinates": p}, positions),
    st.builds(lambda p: {"type": "Polygon", "coordinates": [[p, [112.76, -7.3], [112.76, -7.25],
                                                             p]]}, positions),
    st.sampled_from([
        {"type": "MultiPolygon", "coordinates": [[ring(112.7, -7.3, 0.05)], []]},
        {"type": "Polygon", "coordinates": [BIG_RING + BIG_RING[:1]]},
        {"type": "Polygon", "coordinates": nested(60)},
        {"type": "Point", "coordinates": nested(300)},
        {"type": "LineString", "coordinates": [[112.75, -7.25]]},
        {"type": "GeometryCollection", "geometries": []},
        {"type": "Feature", "geometry": POINT},
        {"type": "Point"}, {}, [], "POINT(112.75 -7.25)", 0,
    ]))

# A plausible value for an argument or input field, by name (a name not listed here gets one
# by its type): the seed's codes and ids, October and November 2026, places in Surabaya.
PLAUSIBLE: dict[str, list[Any]] = {
    "code": [K1, KEC1, "35.78"], "parentCode": [KEC1, "35.78"], "areaCode": [K1, KEC1],
    "unitCode": ["DINKES", "PEMKOT"], "category": ["POSYANDU", "LAYANAN"],
    "outcome": ["BALITA", "ADUAN"], "indicator": ["BALITA"], "month": ["2026-11"],
    "staffId": [str(S1), str(S2)], "activityId": [str(aid(1)), str(aid(5))],
    "id": [str(aid(2)), "00000000-0000-4000-b000-000000000001"], "actorSub": [str(S1)],
    "from": ["2026-10-01", "2026-11-01"], "to": ["2026-10-31", "2026-11-30"],
    "startedAt": ["2026-10-20T09:00:00+07:00"], "endedAt": ["2026-10-20T10:00:00+07:00"],
    "deviceTime": ["2026-10-20T09:01:00+07:00"], "lon": [112.75], "lat": [-7.25],
    "radiusMeters": [500.0], "cellSizeMeters": [500.0], "limit": [5], "first": [5],
    "minActivities": [3], "zoom": [12], "value": [10.0], "citizensServed": [3],
    "accuracyMeters": [5.0], "location": [POINT], "within": [SQUARE],
    "bbox": [[112.7, -7.3, 112.8, -7.2]], "reason": ["checked on site"], "note": ["ok"],
}
BY_TYPE: dict[str, list[Any]] = {
    "Int": [0, 3], "Float": [1.0], "String": ["ok"], "Boolean": [True, False],
    "ID": [str(S1)], "Date": ["2026-11-01"], "DateTime": ["2026-10-20T09:00:00+07:00"],
    "GeoJSON": [POINT, SQUARE], "JSON": [{}],
}
HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    "Int": st.one_of(st.sampled_from([-1, 1_001, 2**31 - 1, -(2**31), 2**31, *RAWS]),
                     st.integers(-100, 2_000)),
    "Float": st.one_of(st.sampled_from([0.0, -0.0, -1.0, 1e9, 1e308, -1e308, 5e-324, *RAWS,
                                        "NaN", "Infinity"]),
                       st.floats(allow_nan=False, allow_infinity=False)),
    "String": st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12)),
    "Boolean": st.sampled_from(["yes", 0, None]),
    "Date": st.sampled_from([*EDGE_DAYS, "2026-02-30", "+10000-01-01", "2026-1-1", ""]),
    "DateTime": st.one_of(
        st.builds(lambda d, t, o: f"{d}T{t}{o}", st.sampled_from(EDGE_DAYS),
                  st.sampled_from(TIMES), st.sampled_from(OFFSETS)),
        st.sampled_from(["2026-10-20T09:00:00", "2026-10-20 09:00", "NaN", ""])),
    "GeoJSON": hostile_geojson, "JSON": hostile_geojson,
}
HOSTILE["ID"] = st.one_of(HOSTILE["String"], st.uuids().map(str))


def leaf(name: str, t: GraphQLScalarType | GraphQLEnumType) -> st.SearchStrategy[Any]:
    """Three times in four plausible, else hostile."""
    if isinstance(t, GraphQLEnumType):
        plausible: st.SearchStrategy[Any] = st.sampled_from([Enum(v) for v in t.values])
        hostile = st.sampled_from(["", "a\x00b", "NaN", *map(Enum, ["NULL", "Infinity"])])
    else:
        assert t.name in HOSTILE, f"no hostile values for the scalar {t.name}: add some"
        plausible = st.sampled_from(PLAUSIBLE.get(name) or BY_TYPE[t.name])
        hostile = HOSTILE[t.name]
    return st.one_of(plausible, plausible, plausible, hostile)


def values(t: GraphQLInputType, name: str) -> st.SearchStrategy[Any]:
    """Values for an argument or input field `name` of type `t`."""
    nullable = not isinstance(t, GraphQLNonNull)
    inner_type = t.of_type if isinstance(t, GraphQLNonNull) else t
    inner: st.SearchStrategy[Any]
    if isinstance(inner_type, GraphQLList) and name in PLAUSIBLE:
        # A list plausible as a whole (bbox): that, or any number of items, hostile or not.
        whole = st.sampled_from(PLAUSIBLE[name])
        inner = st.one_of(whole, whole, st.lists(values(inner_type.of_type, ""), max_size=5))
    elif isinstance(inner_type, GraphQLList):
        item = values(inner_type.of_type, name)
        inner = st.one_of(st.lists(item, min_size=1, max_size=3), st.lists(item, max_size=0),
                          item)
    elif isinstance(inner_type, GraphQLInputObjectType):
        fields = {n: values(f.type, n) for n, f in inner_type.fields.items()}
        required = [n for n, f in inner_type.fields.items() if isinstance(f.type, GraphQLNonNull)]
        inner = st.fixed_dictionaries({n: fields[n] for n in required},
                                      optional={n: fields[n] for n in fields
                                                if n not in required})
    else:
        assert isinstance(inner_type, GraphQLScalarType | GraphQLEnumType)
        inner = leaf(name, inner_type)
    return st.one_of(inner, inner, inner, st.none()) if nullable else inner


# -- writing a request -------------------------------------------------------------------------


def as_json(value: Any) -> Any:
    if isinstance(value, Raw):
        return value.json
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def as_literal(value: Any) -> str | None:
    """The value as GraphQL literal text; None when a document cannot hold it (a key like '')."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Enum):
        return value.name
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "1e400" if value == math.inf else "-1e400" if value == -math.inf else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    parts = [as_literal(v) for v in (value.values() if isinstance(value, dict) else value)]
    if any(p is None for p in parts):
        return None
    if isinstance(value, list):
        return "[" + ", ".join(parts) + "]"  # type: ignore[arg-type]
    if not all(graphql.language.lexer.is_name_start(k[:1]) and k.isidentifier() and k.isascii()
               for k in value):
        return None
    return "{" + ", ".join(f"{k}: {p}" for k, p in zip(value, parts, strict=True)) + "}"


class Document:
    """One request being written; each argument as a literal or as a declared variable."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.declared: list[str] = []
        self.variables: dict[str, Any] = {}

    def arguments(self, field: GraphQLField, where: str) -> str:
        """Every required argument and some optional ones, with values for their names."""
        given_ = []
        for arg, definition in field.args.items():
            required = isinstance(definition.type, GraphQLNonNull)
            if not (required or self.data.draw(st.booleans(), label=f"give {where}.{arg}")):
                continue
            value = self.data.draw(values(definition.type, arg), label=f"{where}.{arg}")
            literal = self.data.draw(st.booleans(), label=f"{where}.{arg} as literal")
            text = as_literal(value) if literal else None
            if text is None:
                name = f"v{len(self.variables)}"
                self.declared.append(f"${name}: {definition.type}")
                self.variables[name] = as_json(value)
                text = f"${name}"
            given_.append(f"{arg}: {text}")
        return f"({', '.join(given_)})" if given_ else ""

    def selection(self, t: Any, where: str, depth: int = 2) -> str:
        """`__typename`, every scalar field, and objects `depth` deep; a field taking arguments
        only sometimes, with fuzzed arguments of its own (`Area.geometry(zoom)` and the like)."""
        t = graphql.get_named_type(t)
        if not isinstance(t, GraphQLObjectType):
            return ""
        parts = ["__typename"]
        for n, f in t.fields.items():
            inner = graphql.get_named_type(f.type)
            is_leaf = isinstance(inner, GraphQLScalarType | GraphQLEnumType)
            if not is_leaf and depth <= 1:
                continue
            if f.args and not self.data.draw(st.booleans(), label=f"ask {t.name}.{n}"):
                continue
            sub = "" if is_leaf else " " + self.selection(inner, f"{where}.{n}", depth - 1)
            parts.append(n + self.arguments(f, f"{t.name}.{n}") + sub)
        return "{ " + " ".join(parts) + " }"

    def body(self, kind: str, name: str, field: GraphQLField) -> dict[str, Any]:
        call = name + self.arguments(field, name)
        fields = self.selection(field.type, name)
        head = f"{kind.lower()}({', '.join(self.declared)})" if self.declared else kind.lower()
        return {"query": f"{head} {{ {call} {fields} }}", "variables": self.variables}


# -- the checks --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def callers(module_db_url: str) -> AsyncIterator[dict[str, Api]]:
    """An admin, who may ask for anything, and a supervisor of DINKES (also a staff member,
    S1), whose answers are narrowed to the unit and whose records of others are FORBIDDEN."""
    settings = settings_for(module_db_url)
    async for admin in serve(settings):
        async for supervisor in serve(settings, role="supervisor", sub=str(S1), unit="DINKES"):
            yield {"admin": admin, "supervisor": supervisor}
    print(f"\nschema fuzz: {sum(SENT.values())} inputs over {len(ROOTS)} root fields "
          f"({BUDGET} each as an admin, {BUDGET_SUPERVISOR} as a supervisor)")


def in_band_errors(data: Any) -> list[dict[str, Any]]:
    """The `error` of every record answer (RecordResult) in `data`."""
    found = []
    for item in (data if isinstance(data, list) else [data]):
        if isinstance(item, dict) and isinstance(item.get("error"), dict):
            found.append(item["error"])
    return found


def refused(answer: dict[str, Any], name: str) -> bool:
    """Nothing may have been written: the request or the mutation itself was refused, or every
    record answer is REJECTED. (An error deeper in the answer, say in `area { distanceTo }` of a
    stored target, comes after the write.)"""
    if any(len(e.get("path") or [name]) == 1 for e in answer.get("errors") or []):
        return True
    data = (answer.get("data") or {}).get(name)
    if data is None:
        return not answer.get("errors")
    items = data if isinstance(data, list) else [data]
    return all(isinstance(i, dict) and i.get("status") == "REJECTED" for i in items) and bool(
        items and "status" in items[0])


async def fuzz_once(api: Api, kind: str, name: str, field: GraphQLField,
                    data: st.DataObject) -> None:
    body = Document(data).body(kind, name, field)
    engine = api.http.app.state.engine  # type: ignore[attr-defined]
    before = await fingerprint(engine) if kind == "Mutation" else None

    r = await api.http.post("/graphql", content=json.dumps(body, allow_nan=True),
                            headers={"Content-Type": "application/json"})
    SENT[f"{kind}.{name}"] = SENT.get(f"{kind}.{name}", 0) + 1
    assert r.status_code < 500, r.text[:800]
    for leak in LEAKS:
        assert leak not in r.text, (leak, body["query"][:300], r.text[:800])
    answer: dict[str, Any] = r.json()
    for err in answer.get("errors") or []:
        assert err["extensions"]["code"] in CLIENT_CODES - {"INTERNAL_SERVER_ERROR"}, (
            body["query"][:300], body["variables"], err)
    for err in in_band_errors((answer.get("data") or {}).get(name)):
        assert err["code"] in CLIENT_CODES - {"INTERNAL_SERVER_ERROR"}, (body, err)
    if before is not None and refused(answer, name):
        assert await fingerprint(engine) == before, (body["query"][:300], answer)


ROOT_IDS = [f"{kind}.{name}" for kind, name, _ in ROOTS]


@pytest.mark.parametrize(("kind", "name", "field"), ROOTS, ids=ROOT_IDS)
@FUZZ
@given(data=st.data())
async def test_no_input_is_an_internal_error(callers: dict[str, Api], kind: str, name: str,
                                             field: GraphQLField, data: st.DataObject) -> None:
    await fuzz_once(callers["admin"], kind, name, field, data)


@pytest.mark.parametrize(("kind", "name", "field"), ROOTS, ids=ROOT_IDS)
@settings(FUZZ, max_examples=BUDGET_SUPERVISOR)
@given(data=st.data())
async def test_no_input_is_an_internal_error_for_a_supervisor(
        callers: dict[str, Api], kind: str, name: str, field: GraphQLField,
        data: st.DataObject) -> None:
    await fuzz_once(callers["supervisor"], kind, name, field, data)
