"""Generated input thrown at the API (hypothesis): geometries valid and broken, filters, and
activities. Whatever comes in, the answer is never a 5xx, never shows a trace or SQL, every
error carries a documented code, and a refused write leaves the database as it was.

The examples are derandomised (the same ones every run, so CI does not flake) and bounded.
Breadth, every argument of every root field read from the schema, is tests/test_fuzz_schema.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.errors import CLIENT_CODES
from tests.conftest import Api
from tests.dbstate import fingerprint
from tests.payloads import RECORD_MANY, activity
from tests.seed import K1, K2, K3, KEC1, S1, S2, S3

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
LEAKS = ("Traceback", 'File "', "asyncpg", "sqlalchemy", "[SQL:", "SQLSTATE", "syntax error at",
         'relation "', "Internal server error")
INJECTIONS = ["'; DROP TABLE activities; --", "' OR 1=1 --", '"; --', "a\x00b", "%s%s%s"]

# -- values -----------------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(min_value=112.6, max_value=112.85),     # Surabaya's longitudes
    st.floats(min_value=-7.35, max_value=-7.15),      # and latitudes
)
text = st.one_of(st.text(max_size=40), st.sampled_from(INJECTIONS))
junk = st.recursive(st.none() | st.booleans() | numbers | text,
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)

lon = st.floats(min_value=112.6, max_value=112.85)
lat = st.floats(min_value=-7.35, max_value=-7.15)
position = st.one_of(st.tuples(lon, lat).map(list), st.lists(numbers, max_size=4))


@st.composite
def boxes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid polygon: a rectangle inside the city."""
    x0, y0 = draw(lon), draw(lat)
    dx, dy = draw(st.floats(0.001, 0.1)), draw(st.floats(0.001, 0.1))
    ring = [[x0, y0], [x0 + dx, y0], [x0 + dx, y0 + dy], [x0, y0 + dy], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


broken = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString",
                                        "Feature", "GeometryCollection", "Circle", ""]), junk)},
    optional={"coordinates": st.one_of(
        st.lists(st.lists(position, max_size=8), max_size=3),
        st.lists(st.lists(st.lists(position, max_size=6), max_size=2), max_size=2),
        position, junk)})
geometries = st.one_of(boxes(), broken, junk)

points = st.one_of(
    st.tuples(lon, lat).map(lambda p: {"type": "Point", "coordinates": list(p)}),
    st.fixed_dictionaries({"type": st.sampled_from(["Point", "point", "Polygon"]),
                           "coordinates": position}),
    geometries)

days = st.one_of(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)).map(str),
                 st.text(max_size=12))
periods = st.one_of(st.fixed_dictionaries({"from": days, "to": days}), junk)
codes = st.one_of(st.sampled_from(["35.78", KEC1, K1, K2, K3]), text)
staff_ids = st.one_of(st.sampled_from([str(S1), str(S2), str(S3)]), st.uuids().map(str), text)

filters = st.one_of(st.fixed_dictionaries({}, optional={
    "period": periods,
    "areaCode": codes,
    "within": geometries,
    "bbox": st.lists(numbers, max_size=6),
    "near": st.fixed_dictionaries({"lon": numbers, "lat": numbers, "radiusMeters": numbers}),
    "unitCode": st.one_of(st.sampled_from(["PEMKOT", "DINKES", "KEC-357801"]), text),
    "staffId": staff_ids,
    "category": st.one_of(st.sampled_from(["POSYANDU", "LAYANAN"]), text),
    "outcomeMet": st.one_of(st.booleans(), junk),
    "includeFlagged": st.one_of(st.booleans(), junk),
}), junk)

READS = {
    "activities": "query($f: ActivityFilter, $n: Int, $a: String) { activities(filter: $f, "
                  "first: $n, after: $a) { totalCount edges { cursor node { id location } } } }",
    "coverage": "query($f: ActivityFilter, $p: Period!) { coverage(level: KECAMATAN, "
                "period: $p, filter: $f) { activities distinctStaff outcomeRate } }",
    "coverageMap": "query($f: ActivityFilter, $p: Period!, $z: Int) { coverageMap("
                   "level: KECAMATAN, period: $p, filter: $f, zoom: $z) }",
    "hexbins": "query($f: ActivityFilter, $p: Period!, $c: Float!) { hexbins(period: $p, "
               "cellSizeMeters: $c, filter: $f) }",
    "nearest": "query($f: ActivityFilter, $x: Float!, $y: Float!, $n: Int!) { "
               "nearestActivities(lon: $x, lat: $y, limit: $n, filter: $f) { distanceMeters } }",
}
VARIABLES = {
    "activities": {"n": st.one_of(st.integers(-5, 600), junk), "a": st.one_of(text, junk)},
    "coverage": {"p": periods},
    "coverageMap": {"p": periods, "z": st.one_of(st.integers(-3, 30), junk)},
    "hexbins": {"p": periods, "c": numbers},
    "nearest": {"x": numbers, "y": numbers, "n": st.one_of(st.integers(-3, 1_200), junk)},
}

# -- checks -----------------------------------------------------------------------------------


async def send(api: Api, query: str, variables: Any) -> dict[str, Any]:
    """POST, with NaN and infinities written as JSON cannot hold them (the server refuses)."""
    body = json.dumps({"query": query, "variables": variables}, allow_nan=True)
    r = await api.http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, r.text[:500]
    for leak in LEAKS:
        assert leak not in r.text, (leak, r.text[:500])
    answer: dict[str, Any] = r.json()
    for err in answer.get("errors", []):
        assert err["extensions"]["code"] in CLIENT_CODES - {"INTERNAL_SERVER_ERROR"}, err
        assert err["message"], err
    return answer


@FUZZ
@given(data=st.data())
async def test_generated_reads(api: Api, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(READS)), label="query")
    variables = {"f": data.draw(filters, label="filter"),
                 **{k: data.draw(s, label=k) for k, s in VARIABLES[name].items()}}
    await send(api, READS[name], variables)


GEOMETRY_READS = [
    ("query($g: GeoJSON) { activities(filter: {within: $g}) { totalCount } }", "g"),
    ("query($b: [Float!]) { areas(bbox: $b) { code } }", "b"),
    ('query($x: Float!, $y: Float!) { area(code: "35.78.01") { distanceTo(lon: $x, lat: $y) } }',
     "xy"),
]


@FUZZ
@given(geometry=geometries, numbers_=st.lists(numbers, max_size=6),
       which=st.sampled_from(range(len(GEOMETRY_READS))))
async def test_generated_geometries(api: Api, geometry: Any, numbers_: list[Any],
                                    which: int) -> None:
    query, kind = GEOMETRY_READS[which]
    variables = ({"g": geometry} if kind == "g" else {"b": numbers_} if kind == "b"
                 else {"x": (numbers_ + [0, 0])[0], "y": (numbers_ + [0, 0])[1]})
    await send(api, query, variables)


def fields() -> st.SearchStrategy[dict[str, Any]]:
    """An ActivityInput: valid by default, any field possibly replaced by something else."""
    return st.fixed_dictionaries({}, optional={
        "staffId": staff_ids,
        "category": st.one_of(st.sampled_from(["POSYANDU", "LAYANAN"]), text),
        "startedAt": st.one_of(st.datetimes().map(lambda t: t.isoformat() + "+07:00"), text),
        "endedAt": st.one_of(st.none(), st.datetimes().map(lambda t: t.isoformat() + "Z")),
        "location": points,
        "accuracyMeters": st.one_of(st.none(), numbers),
        "mockLocation": st.one_of(st.none(), st.booleans(), junk),
        "citizensServed": st.one_of(st.integers(-(2**33), 2**33), junk),
        "outcome": st.one_of(st.none(), st.sampled_from(["BALITA", "ADUAN"]), text),
        "outcomeMet": st.one_of(st.booleans(), junk),
        "note": st.one_of(st.none(), text, st.text(min_size=3_990, max_size=4_010)),
    })


@FUZZ
@given(items=st.lists(st.tuples(st.uuids(), fields()), min_size=1, max_size=3))
async def test_generated_activities(api: Api,
                                    items: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
    engine = api.http.app.state.engine  # type: ignore[attr-defined]
    before = await fingerprint(engine)
    batch = [activity(0, **{**overrides, "id": str(id_)}) for id_, overrides in items]
    answer = await send(api, RECORD_MANY, {"i": batch})
    after = await fingerprint(engine)
    results = (answer.get("data") or {}).get("recordActivities") or []
    for r in results:
        assert r["status"] in {"CREATED", "DUPLICATE", "REJECTED"}
        if r["status"] == "REJECTED":
            assert r["error"]["code"] in CLIENT_CODES - {"INTERNAL_SERVER_ERROR"}, r
            assert r["activity"] is None
    created = sum(r["status"] == "CREATED" for r in results)
    if created == 0:
        assert after == before
    else:
        assert after["activities"][0] == before["activities"][0] + created
        assert {k: v for k, v in after.items() if k not in {"activities", "flag_reviews"}} == {
            k: v for k, v in before.items() if k not in {"activities", "flag_reviews"}}
