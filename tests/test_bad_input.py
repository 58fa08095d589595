"""Bad input through HTTP: each case answers a clear coded error and changes nothing.

Reads and refused writes share one database for the module; every refused write is checked
against a fingerprint of all writable tables. Writes that succeed (unicode notes, an injection
attempt stored as plain text) get a database of their own.

No GraphQL input takes a NIP, so the NIP's shape is checked by `geo.people.validate_nip` and
the database's CHECK, both tested in tests/test_nip.py; here a test keeps that statement true.
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from typing import Any

import graphql
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from graph.errors import CLIENT_CODES
from graph.schema import schema
from tests.conftest import Api, serve, settings_for
from tests.dbstate import fingerprint, tables_exist
from tests.payloads import RECORD_MANY, RECORD_ONE, activity, new_id
from tests.seed import K1, aid

# What a leaked exception would show: a trace, the driver, SQLAlchemy's "[SQL: ...]", a
# PostgreSQL message. (SQL keywords alone are not: a refusal may echo the client's own text.)
LEAKS = ("Traceback", 'File "', "asyncpg", "sqlalchemy", "[SQL:", "SQLSTATE", "syntax error at",
         'relation "', "Internal server error")
DROP = "'; DROP TABLE activities; --"
OR_TRUE = "' OR 1=1 --"
INJECTIONS = [DROP, OR_TRUE, "1); DELETE FROM targets; --", "\\'; SELECT pg_sleep(5); --"]
P = {"from": "2026-10-01", "to": "2026-10-31"}
SEEDED = 8   # the seed's activities, all listed to an admin (see tests/seed.py)


@pytest.fixture(scope="module")
async def shared(module_db_url: str) -> AsyncIterator[Api]:
    async for api in serve(settings_for(module_db_url)):
        yield api


def engine_of(api: Api) -> AsyncEngine:
    return api.http.app.state.engine  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(scope="module")
async def pristine(shared: Api) -> dict[str, tuple[int, str]]:
    """The fingerprint of the shared database before any case ran."""
    return await fingerprint(engine_of(shared))


def clean(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, leak


async def refused(api: Api, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
    r = await api.http.post("/graphql", json={"query": query, "variables": variables or {}})
    assert r.status_code == 200, r.text
    clean(r.text)
    body = r.json()
    assert body.get("errors"), body
    err: dict[str, Any] = body["errors"][0]
    assert err["extensions"]["code"] in CLIENT_CODES - {"INTERNAL_SERVER_ERROR"}
    return err


ACTS = "query($f: ActivityFilter) { activities(filter: $f) { totalCount edges { node { id } } } }"
ACTS_AFTER = "query($a: String) { activities(after: $a) { totalCount } }"
AREAS = "query($b: [Float!], $p: String) { areas(bbox: $b, parentCode: $p) { code } }"
COVERAGE = "query($p: Period!) { coverage(level: KELURAHAN, period: $p) { activities } }"
REACH = """query($p: Period!, $r: Float!) {
    reach(level: KELURAHAN, period: $p, radiusMeters: $r) { reachedShare } }"""
HEXBINS = "query($p: Period!, $c: Float!) { hexbins(period: $p, cellSizeMeters: $c) }"
NEAREST = """query($n: Int!) {
    nearestActivities(lon: 112.7, lat: -7.3, limit: $n) { distanceMeters } }"""
ACTIVITY = "query($id: ID!) { activity(id: $id) { id } }"
STAFF = "query($id: ID!) { staff(id: $id) { id } }"
GEOMETRY = "query($z: Int) { area(code: \"35.78.01\") { geometry(zoom: $z) } }"
SET_TARGET = "mutation($i: TargetInput!) { setTarget(input: $i) { id } }"
RESOLVE = """mutation($id: ID!, $r: String!) {
    resolveFlags(activityId: $id, decision: ACCEPTED, reason: $r) { id } }"""

HUGE = "1" * 400   # an integer no float can hold


def cursor(instant: str) -> str:
    """A cursor as the API writes them (graph.resolvers.pagination), holding a forged instant."""
    raw = orjson.dumps([instant, "00000000-0000-4000-8000-000000000001"])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def within_literal(first: str) -> str:
    """A square written in the document, its first and last position as `first`."""
    ring = f"[{first}, [112.8, -7.3], [112.8, -7.2], {first}]"
    return ("{ activities(filter: {within: {type: \"Polygon\", coordinates: [" + ring + "]}}) "
            "{ totalCount } }")


SQUARE = [[112.70, -7.30], [112.75, -7.30], [112.75, -7.25], [112.70, -7.25], [112.70, -7.30]]
BOWTIE = [[112.70, -7.30], [112.75, -7.25], [112.75, -7.30], [112.70, -7.25], [112.70, -7.30]]


def polygon(ring: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def with_position(pos: list[Any]) -> dict[str, Any]:
    """The square with its first (and last) position replaced."""
    return polygon([pos, *SQUARE[1:-1], pos])


def circle(n: int) -> list[list[float]]:
    angles = [2 * math.pi * i / n for i in range(n)]
    pts = [[112.74 + 0.03 * math.cos(a), -7.27 + 0.03 * math.sin(a)] for a in angles]
    return [*pts, pts[0]]


def within(geo: Any) -> tuple[str, dict[str, Any]]:
    return ACTS, {"f": {"within": geo}}


def filtered(**f: Any) -> tuple[str, dict[str, Any]]:
    return ACTS, {"f": f}


# (case id, (query, variables), code, words in the message)
CASES: list[tuple[str, tuple[str, dict[str, Any]], str, str]] = [
    # GeoJSON (filter.within)
    ("geojson-string", within("POLYGON((112.7 -7.3, 112.8 -7.3, 112.8 -7.2, 112.7 -7.3))"),
     "INVALID_GEOMETRY", "expected a GeoJSON geometry object, got str"),
    ("geojson-array", within(SQUARE), "INVALID_GEOMETRY", "got list"),
    ("geojson-number", within(42), "INVALID_GEOMETRY", "got int"),
    ("geojson-no-type", within({"coordinates": [SQUARE]}), "INVALID_GEOMETRY", "has no 'type'"),
    ("geojson-unknown-type", within({"type": "Circle", "coordinates": [112.7, -7.3]}),
     "INVALID_GEOMETRY", "unknown or unsupported GeoJSON type 'Circle'"),
    ("geojson-type-not-a-string", within({"type": ["Polygon"], "coordinates": [SQUARE]}),
     "INVALID_GEOMETRY", "unknown or unsupported GeoJSON type ['Polygon']"),
    ("geojson-feature", within({"type": "Feature", "geometry": polygon(SQUARE)}),
     "INVALID_GEOMETRY", "unknown or unsupported GeoJSON type 'Feature'"),
    ("geojson-no-coordinates", within({"type": "Polygon"}), "INVALID_GEOMETRY",
     "has no 'coordinates'"),
    ("ring-unclosed", within(polygon(SQUARE[:-1])), "INVALID_GEOMETRY", "ring is not closed"),
    ("ring-self-intersecting", within(polygon(BOWTIE)), "INVALID_GEOMETRY", "Self-intersection"),
    ("ring-three-positions", within(polygon([SQUARE[0], SQUARE[1], SQUARE[0]])),
     "INVALID_GEOMETRY", "at least 4 positions, got 3"),
    ("ring-not-positions", within({"type": "Polygon", "coordinates": [112.7, -7.3]}),
     "INVALID_GEOMETRY", "a ring must be an array of positions"),
    ("lat-lon-swapped", within(with_position([-7.30, 112.70])), "INVALID_GEOMETRY",
     "It looks like [latitude, longitude]: swap them."),
    ("longitude-beyond-180", within(with_position([212.7, -7.3])), "INVALID_GEOMETRY",
     "out of range (longitude -180..180"),
    ("latitude-beyond-90", within(with_position([112.7, -97.3])), "INVALID_GEOMETRY",
     "out of range"),
    ("far-outside", within(with_position([-70.0, 40.0])), "INVALID_GEOMETRY",
     "outside the service extent"),
    ("3d-position", within(with_position([112.7, -7.3, 12.0])), "INVALID_GEOMETRY",
     "3D position"),
    ("string-coordinates", within(with_position(["112.7", "-7.3"])), "INVALID_GEOMETRY",
     "coordinates must be numbers"),
    ("huge-coordinates", within(with_position([1e300, -7.3])), "INVALID_GEOMETRY",
     "It is not WGS84 longitude/latitude"),
    ("enormous-polygon", within(polygon(circle(6_000))), "LIMIT_EXCEEDED",
     "6001 positions is more than the limit of 5000 (max_within_vertices)"),
    ("earth-sized-polygon", within(polygon([[-180, -90], [180, -90], [180, 90], [-180, 90],
                                            [-180, -90]])), "INVALID_GEOMETRY",
     "outside the service extent"),
    # bbox
    ("bbox-min-over-max", filtered(bbox=[112.8, -7.2, 112.7, -7.3]), "BAD_USER_INPUT",
     "min must not exceed max"),
    ("bbox-three-numbers", filtered(bbox=[112.7, -7.3, 112.8]), "BAD_USER_INPUT",
     "expected [minLon, minLat, maxLon, maxLat], got 3 numbers"),
    ("bbox-five-numbers", filtered(bbox=[112.7, -7.3, 112.8, -7.2, 0]), "BAD_USER_INPUT",
     "got 5 numbers"),
    ("bbox-out-of-range", filtered(bbox=[112.7, -97.3, 112.8, -7.2]), "BAD_USER_INPUT",
     "latitudes in -90..90"),
    ("areas-bbox-min-over-max", (AREAS, {"b": [112.8, -7.2, 112.7, -7.3]}), "BAD_USER_INPUT",
     "min must not exceed max"),
    ("areas-bbox-empty", (AREAS, {"b": []}), "BAD_USER_INPUT", "got 0 numbers"),
    # near and radii
    ("near-negative-radius", filtered(near={"lon": 112.7, "lat": -7.3, "radiusMeters": -1}),
     "BAD_USER_INPUT", "radiusMeters must be a non-negative number"),
    ("near-huge-radius", filtered(near={"lon": 112.7, "lat": -7.3, "radiusMeters": 1e12}),
     "LIMIT_EXCEEDED", "exceeds the maximum"),
    ("near-swapped", filtered(near={"lon": -7.3, "lat": 112.7, "radiusMeters": 5}),
     "INVALID_GEOMETRY", "swap them"),
    ("reach-negative-radius", (REACH, {"p": P, "r": -10}), "BAD_USER_INPUT", "non-negative"),
    ("hexbins-negative-cell", (HEXBINS, {"p": P, "c": -50}), "BAD_USER_INPUT",
     "cellSizeMeters must be a positive number"),
    ("nearest-zero", (NEAREST, {"n": 0}), "BAD_USER_INPUT", "limit must be at least 1"),
    ("nearest-too-many", (NEAREST, {"n": 1_001}), "LIMIT_EXCEEDED", "exceeds the maximum of 1000"),
    # periods
    ("period-from-after-to", (COVERAGE, {"p": {"from": "2026-10-31", "to": "2026-10-01"}}),
     "BAD_USER_INPUT", "'from' (2026-10-31) is after 'to' (2026-10-01)"),
    ("period-too-long", (COVERAGE, {"p": {"from": "2020-01-01", "to": "2026-10-31"}}),
     "LIMIT_EXCEEDED", "longer than the maximum of 400 days"),
    ("period-not-a-date", (COVERAGE, {"p": {"from": "2026-02-30", "to": "2026-10-31"}}),
     "BAD_USER_INPUT", "cannot represent a Date"),
    ("filter-period-too-long", filtered(period={"from": "2000-01-01", "to": "2100-01-01"}),
     "LIMIT_EXCEEDED", "maximum of 400 days"),
    # dates at and beyond the edges of the supported range (2000-01-01..2100-12-31 WIB)
    ("period-last-day-of-9999", (COVERAGE, {"p": {"from": "9999-12-31", "to": "9999-12-31"}}),
     "BAD_USER_INPUT", "period.from: 9999-12-31 is outside the supported dates 2000-01-01.."),
    ("period-first-day-of-0001", (COVERAGE, {"p": {"from": "0001-01-01", "to": "0001-01-01"}}),
     "BAD_USER_INPUT", "period.from: 0001-01-01 is outside the supported dates"),
    ("period-to-beyond-2100", (COVERAGE, {"p": {"from": "2100-12-31", "to": "2101-01-01"}}),
     "BAD_USER_INPUT", "period.to: 2101-01-01 is outside"),
    ("filter-period-9999", filtered(period={"from": "9999-12-31", "to": "9999-12-31"}),
     "BAD_USER_INPUT", "filter.period.from: 9999-12-31 is outside the supported dates"),
    ("access-log-to-9999", ("query($f: AccessLogFilter) { accessLog(filter: $f) { pageInfo { "
                            "hasNextPage } } }", {"f": {"to": "9999-12-31"}}),
     "BAD_USER_INPUT", "accessLog: filter.to: 9999-12-31 is outside the supported dates"),
    ("access-log-from-0001", ("query($f: AccessLogFilter) { accessLog(filter: $f) { pageInfo { "
                              "hasNextPage } } }", {"f": {"from": "0001-01-01"}}),
     "BAD_USER_INPUT", "filter.from: 0001-01-01 is outside"),
    ("cursor-forged-year-1", (ACTS_AFTER, {"a": cursor("0001-01-01T00:00:00+07:00")}),
     "BAD_USER_INPUT", "after: 0001-01-01T00:00:00+07:00 is outside the supported dates"),
    ("cursor-forged-year-9999", (ACTS_AFTER, {"a": cursor("9999-12-31T23:59:59-05:00")}),
     "BAD_USER_INPUT", "is outside the supported dates"),
    # integers of 400 digits, written in the document (JSON variables cannot carry them)
    ("first-of-400-digits", ("{ activities(first: " + HUGE + ") { totalCount } }", {}),
     "GRAPHQL_VALIDATION_FAILED", "Int cannot represent non 32-bit signed integer value"),
    ("flagged-first-of-400-digits", ("{ flaggedActivities(first: " + HUGE + ") { totalCount } }",
                                     {}), "GRAPHQL_VALIDATION_FAILED", "Int cannot represent"),
    ("nearest-limit-of-400-digits", ("{ nearestActivities(lon: 112.7, lat: -7.3, limit: " + HUGE
                                     + ") { distanceMeters } }", {}),
     "GRAPHQL_VALIDATION_FAILED", "Int cannot represent"),
    ("first-default-of-400-digits", ("query($n: Int = " + HUGE + ") { activities(first: $n) "
                                     "{ totalCount } }", {}),
     "GRAPHQL_VALIDATION_FAILED", "Int cannot represent"),
    ("hexbins-cell-default-of-400-digits",
     ("query($c: Float! = -" + HUGE + ') { hexbins(period: {from: "2026-10-01", '
      'to: "2026-10-31"}, cellSizeMeters: $c) }', {}),
     "BAD_USER_INPUT", "cellSizeMeters must be a positive number, got -inf"),
    ("hexbins-cell-of-400-digits", ('{ hexbins(period: {from: "2026-10-01", to: "2026-10-31"}, '
                                    "cellSizeMeters: " + HUGE + ") }", {}),
     "BAD_USER_INPUT", "cellSizeMeters must be a positive number, got inf"),
    ("within-coordinate-of-400-digits",
     (within_literal(f"[{HUGE}, -7.3]"), {}),
     "INVALID_GEOMETRY", "filter.within ring 0 position 0: coordinates must be finite"),
    ("negative-within-coordinate-of-400-digits",
     (within_literal(f"[112.7, -{HUGE}]"), {}),
     "INVALID_GEOMETRY", "coordinates must be finite"),
    # unknown codes and ids
    ("unknown-area", filtered(areaCode="35.78.99.9999"), "NOT_FOUND", "unknown area code"),
    ("unknown-parent", (AREAS, {"p": "35.99"}), "NOT_FOUND", "35.99"),
    ("unknown-unit", filtered(unitCode="DINSOS"), "NOT_FOUND", "unknown unit code 'DINSOS'"),
    ("unknown-category", filtered(category="SENAM"), "NOT_FOUND",
     "unknown service category 'SENAM'"),
    ("area-code-nul", filtered(areaCode="35.78\x00"), "BAD_USER_INPUT", "NUL characters"),
    ("category-nul", filtered(category="\x00"), "BAD_USER_INPUT", "NUL characters"),
    ("parent-code-nul", (AREAS, {"p": "35\x0078"}), "BAD_USER_INPUT", "NUL characters"),
    ("staff-id-not-uuid", filtered(staffId="S1"), "BAD_USER_INPUT", "is not a UUID"),
    ("activity-id-not-uuid", (ACTIVITY, {"id": "12"}), "BAD_USER_INPUT", "is not a UUID"),
    ("staff-not-uuid", (STAFF, {"id": "198503122010011001"}), "BAD_USER_INPUT", "not a UUID"),
    ("cursor-garbage", (ACTS_AFTER, {"a": "not-a-cursor"}), "BAD_USER_INPUT",
     "is not a cursor this API gave out"),
    ("zoom-out-of-range", (GEOMETRY, {"z": 99}), "BAD_USER_INPUT", "zoom must be between 0"),
    ("first-negative", ("{ activities(first: -1) { totalCount } }", {}), "BAD_USER_INPUT",
     "must not be negative"),
    # wrong variable types
    ("int-given-a-string", ("query($n: Int) { activities(first: $n) { totalCount } }",
                            {"n": "ten"}), "BAD_USER_INPUT", "Int cannot represent"),
    ("int-given-a-float", ("query($n: Int) { activities(first: $n) { totalCount } }",
                           {"n": 1.5}), "BAD_USER_INPUT", "Int cannot represent"),
    ("int-beyond-32-bits", ("query($n: Int) { activities(first: $n) { totalCount } }",
                            {"n": 2**31}), "BAD_USER_INPUT", "32-bit"),
    ("period-given-a-string", (COVERAGE, {"p": "October"}), "BAD_USER_INPUT",
     "Expected value of type 'Period' to be an object"),
    ("filter-unknown-field", filtered(colour="red"), "BAD_USER_INPUT",
     "not to include unknown field 'colour'"),
    ("boolean-given-a-string", filtered(outcomeMet="yes"), "BAD_USER_INPUT",
     "Boolean cannot represent"),
    ("bbox-given-strings", filtered(bbox=["a", "b", "c", "d"]), "BAD_USER_INPUT",
     "Float cannot represent"),
    # the query itself
    ("unparsable", ("{ units { code }", {}), "GRAPHQL_PARSE_FAILED", "Syntax Error"),
    ("unknown-field", ("{ units { colour } }", {}), "GRAPHQL_VALIDATION_FAILED", "colour"),
    ("int-literal-of-5000-digits", ("{ activities(first: %s) { totalCount } }" % ("1" * 5_000),
                                    {}), "GRAPHQL_VALIDATION_FAILED",
     "Expected value of type 'Int', but encountered error"),
    ("geojson-literal-of-5000-digits",
     ('{ activities(filter: {within: {type: "Polygon", coordinates: [[[%s, 1]]]}}) '
      "{ totalCount } }" % ("1" * 5_000), {}), "INVALID_GEOMETRY", "filter.within"),
    ("infinite-literal", ("{ activities(filter: {bbox: [1e400, -7.3, 112.8, -7.2]}) "
                          "{ totalCount } }", {}), "BAD_USER_INPUT",
     "filter.bbox: numbers must be finite"),
    ("infinite-geojson-literal",
     ('{ activities(filter: {within: {type: "Polygon", coordinates: [[[1e400, -7.3], '
      "[112.8, -7.3], [112.8, -7.2], [1e400, -7.3]]]}}) { totalCount } }", {}),
     "INVALID_GEOMETRY", "coordinates must be finite"),
    ("negative-infinite-geojson-literal",
     ('{ activities(filter: {within: {type: "Polygon", coordinates: [[[112.7, -1e999], '
      "[112.8, -7.3], [112.8, -7.2], [112.7, -1e999]]]}}) { totalCount } }", {}),
     "INVALID_GEOMETRY", "coordinates must be finite"),
]


@pytest.mark.parametrize(("request_", "code", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_bad_read_is_refused_with_a_code(shared: Api, request_: tuple[str, dict[str, Any]],
                                               code: str, words: str) -> None:
    err = await refused(shared, *request_)
    assert err["extensions"] == {"code": code}
    assert words in err["message"]


# -- writes -----------------------------------------------------------------------------------

# (case id, ActivityInput overrides, code, words)
RECORD_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("location-string", {"location": "112.7,-7.3"}, "INVALID_GEOMETRY", "got str"),
    ("location-no-type", {"location": {"coordinates": [112.7, -7.3]}}, "INVALID_GEOMETRY",
     "has no 'type'"),
    ("location-unknown-type", {"location": {"type": "Spot", "coordinates": [112.7, -7.3]}},
     "INVALID_GEOMETRY", "unknown or unsupported GeoJSON type 'Spot'"),
    ("location-type-an-object", {"location": {"type": {"Point": 1}, "coordinates": [1, 2]}},
     "INVALID_GEOMETRY", "unknown or unsupported GeoJSON type"),
    ("location-polygon", {"location": polygon(SQUARE)}, "INVALID_GEOMETRY",
     "expected Point, got Polygon"),
    ("location-swapped", {"location": {"type": "Point", "coordinates": [-7.25, 112.75]}},
     "INVALID_GEOMETRY", "swap them"),
    ("location-longitude-181", {"location": {"type": "Point", "coordinates": [181, -7.25]}},
     "INVALID_GEOMETRY", "out of range"),
    ("location-latitude-91", {"location": {"type": "Point", "coordinates": [112.75, 91]}},
     "INVALID_GEOMETRY", "out of range"),
    ("location-3d", {"location": {"type": "Point", "coordinates": [112.75, -7.25, 3.0]}},
     "INVALID_GEOMETRY", "3D position"),
    ("location-one-number", {"location": {"type": "Point", "coordinates": [112.75]}},
     "INVALID_GEOMETRY", "a position must be [longitude, latitude]"),
    ("citizens-negative", {"citizensServed": -1}, "BAD_USER_INPUT",
     "citizensServed must be between 0 and 10000, got -1"),
    ("citizens-absurd", {"citizensServed": 2_000_000}, "BAD_USER_INPUT", "got 2000000"),
    ("years-ahead", {"startedAt": "2031-10-20T09:00:00+07:00"}, "BAD_USER_INPUT",
     "lies in the future"),
    ("long-ago", {"startedAt": "2019-10-20T09:00:00+07:00"}, "BAD_USER_INPUT",
     "is before 2020-01-01"),
    ("no-offset", {"startedAt": "2026-10-20T09:00:00"}, "BAD_USER_INPUT", "give an offset"),
    ("started-year-1-in-wib", {"startedAt": "0001-01-01T00:00:00+07:00"}, "BAD_USER_INPUT",
     "startedAt: 0001-01-01T00:00:00+07:00 is outside the supported dates 2000-01-01.."),
    ("started-year-9999-west", {"startedAt": "9999-12-31T23:59:59-05:00"}, "BAD_USER_INPUT",
     "startedAt: 9999-12-31T23:59:59-05:00 is outside the supported dates"),
    ("device-clock-reset", {"deviceTime": "0001-01-01T00:00:00+07:00"}, "BAD_USER_INPUT",
     "deviceTime: 0001-01-01T00:00:00+07:00 is outside the supported dates"),
    ("device-year-9999", {"deviceTime": "9999-12-31T23:59:59-05:00"}, "BAD_USER_INPUT",
     "deviceTime: 9999-12-31T23:59:59-05:00 is outside"),
    ("device-year-1970-far-east", {"deviceTime": "1970-01-01T00:00:00+14:00"}, "BAD_USER_INPUT",
     "deviceTime: 1970-01-01T00:00:00+14:00 is outside"),
    ("ended-year-9999", {"endedAt": "9999-12-31T23:59:59+00:00"}, "BAD_USER_INPUT",
     "endedAt: 9999-12-31T23:59:59+00:00 is outside"),
    ("ended-before-started", {"endedAt": "2026-10-19T09:00:00+07:00"}, "BAD_USER_INPUT",
     "endedAt must lie between"),
    ("id-not-uuid", {"id": "activity-1"}, "BAD_USER_INPUT", "is not a UUID"),
    ("staff-not-uuid", {"staffId": "198503122010011001"}, "BAD_USER_INPUT", "is not a UUID"),
    ("staff-unknown", {"staffId": "00000000-0000-4000-8000-00000000ffff"}, "NOT_FOUND",
     "unknown staff id"),
    ("category-unknown", {"category": "SENAM"}, "NOT_FOUND", "unknown service category"),
    ("outcome-unknown", {"outcome": "GIZI"}, "NOT_FOUND", "unknown outcome indicator"),
    ("accuracy-negative", {"accuracyMeters": -5.0}, "BAD_USER_INPUT", "accuracyMeters"),
    ("note-too-long", {"note": "x" * 4_001}, "LIMIT_EXCEEDED", "the maximum is 4000"),
    ("note-one-megabyte", {"note": "x" * 1_000_000}, "LIMIT_EXCEEDED",
     "note is 1000000 characters; the maximum is 4000"),
    ("note-nul", {"note": "a\x00b"}, "BAD_USER_INPUT", "NUL"),
    *[(f"category-injection-{i}", {"category": s}, "NOT_FOUND", "unknown service category")
      for i, s in enumerate(INJECTIONS)],
    *[(f"outcome-injection-{i}", {"outcome": s}, "NOT_FOUND", "unknown outcome indicator")
      for i, s in enumerate(INJECTIONS)],
    *[(f"id-injection-{i}", {"id": s}, "BAD_USER_INPUT", "is not a UUID")
      for i, s in enumerate(INJECTIONS)],
]


@pytest.mark.parametrize(("overrides", "code", "words"), [c[1:] for c in RECORD_CASES],
                         ids=[c[0] for c in RECORD_CASES])
async def test_bad_activity_is_rejected_and_changes_nothing(
        shared: Api, pristine: dict[str, tuple[int, str]], overrides: dict[str, Any],
        code: str, words: str) -> None:
    r = await shared.http.post("/graphql", json={"query": RECORD_ONE,
                                                 "variables": {"i": activity(1, **overrides)}})
    assert r.status_code == 200
    clean(r.text)
    result = r.json()["data"]["recordActivity"]
    assert (result["status"], result["activity"], result["error"]["code"]) == (
        "REJECTED", None, code)
    assert words in result["error"]["message"]
    assert await fingerprint(engine_of(shared)) == pristine


DEEP = 1_000   # lists in lists: orjson reads up to 1,024 levels, Python's repr() fewer


async def post_deep(api: Api, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """POST with every "DEEP" string of `variables` replaced by a position DEEP lists deep
    (written as text: Python's own JSON encoder would not nest that far either)."""
    deep = "[" * DEEP + "112.75, -7.25" + "]" * DEEP
    body = orjson.dumps({"query": query, "variables": variables}).replace(b'"DEEP"', deep.encode())
    r = await api.http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    clean(r.text)
    answer: dict[str, Any] = r.json()
    return answer


async def test_geojson_nested_a_thousand_deep_is_refused_and_changes_nothing(
        shared: Api, pristine: dict[str, tuple[int, str]]) -> None:
    point = {"type": "Point", "coordinates": "DEEP"}
    result = (await post_deep(shared, RECORD_ONE, {"i": activity(1, location=point)}))[
        "data"]["recordActivity"]
    assert (result["status"], result["error"]["code"]) == ("REJECTED", "INVALID_GEOMETRY")
    assert result["error"]["message"] == (
        "location: a position must be [longitude, latitude], got [[[[...]]]]")
    err = (await post_deep(shared, ACTS, {"f": {"within": {"type": "DEEP"}}}))["errors"][0]
    assert err["extensions"] == {"code": "INVALID_GEOMETRY"}
    assert err["message"] == "filter.within: unknown or unsupported GeoJSON type [[[[...]]]]"
    assert await fingerprint(engine_of(shared)) == pristine


async def test_one_bad_item_does_not_sink_the_batch(api: Api) -> None:
    engine = engine_of(api)
    before = (await fingerprint(engine))["activities"][0]
    batch = [activity(1), activity(2, citizensServed=-4), activity(3, category=DROP)]
    results = (await api.data(RECORD_MANY, {"i": batch}))["recordActivities"]
    assert [r["status"] for r in results] == ["CREATED", "REJECTED", "REJECTED"]
    assert (await fingerprint(engine))["activities"][0] == before + 1


WRITE_REFUSALS: list[tuple[str, tuple[str, dict[str, Any]], str, str]] = [
    ("target-unknown-indicator", (SET_TARGET, {"i": {"indicator": "GIZI", "areaCode": K1,
                                                     "value": 3, "month": "2026-11"}}),
     "NOT_FOUND", "unknown indicator 'GIZI'"),
    ("target-unknown-area", (SET_TARGET, {"i": {"indicator": "BALITA", "areaCode": "35.78.99",
                                                "value": 3, "month": "2026-11"}}),
     "NOT_FOUND", "unknown area code '35.78.99'"),
    ("target-bad-month", (SET_TARGET, {"i": {"indicator": "BALITA", "areaCode": K1,
                                             "value": 3, "month": "2026-13"}}),
     "BAD_USER_INPUT", "month must look like 2026-11"),
    ("target-negative", (SET_TARGET, {"i": {"indicator": "BALITA", "areaCode": K1,
                                            "value": -3, "month": "2026-11"}}),
     "BAD_USER_INPUT", "positive number"),
    ("target-month-year-0", (SET_TARGET, {"i": {"indicator": "BALITA", "areaCode": K1,
                                                "value": 3, "month": "0000-01"}}),
     "BAD_USER_INPUT", "month 0000-01 is outside the supported dates"),
    ("target-month-9999-12", (SET_TARGET, {"i": {"indicator": "BALITA", "areaCode": K1,
                                                 "value": 3, "month": "9999-12"}}),
     "BAD_USER_INPUT", "month 9999-12 is outside the supported dates"),
    ("target-period-9999", (SET_TARGET, {"i": {
        "indicator": "BALITA", "areaCode": K1, "value": 3,
        "period": {"from": "9999-12-31", "to": "9999-12-31"}}}), "BAD_USER_INPUT",
     "outside the supported dates"),
    ("target-period-backwards", (SET_TARGET, {"i": {
        "indicator": "BALITA", "areaCode": K1, "value": 3,
        "period": {"from": "2026-12-31", "to": "2026-12-01"}}}), "BAD_USER_INPUT", "is after"),
    *[(f"target-indicator-injection-{i}", (SET_TARGET, {"i": {
        "indicator": s, "areaCode": K1, "value": 3, "month": "2026-11"}}), "NOT_FOUND",
       "unknown indicator") for i, s in enumerate(INJECTIONS)],
    *[(f"target-area-injection-{i}", (SET_TARGET, {"i": {
        "indicator": "BALITA", "areaCode": s, "value": 3, "month": "2026-11"}}), "NOT_FOUND",
       "unknown area code") for i, s in enumerate(INJECTIONS)],
    *[(f"target-month-injection-{i}", (SET_TARGET, {"i": {
        "indicator": "BALITA", "areaCode": K1, "value": 3, "month": s}}), "BAD_USER_INPUT",
       "month must look like") for i, s in enumerate(INJECTIONS)],
    ("resolve-not-uuid", (RESOLVE, {"id": DROP, "r": "ok"}), "BAD_USER_INPUT", "not a UUID"),
    ("resolve-unknown", (RESOLVE, {"id": new_id(99), "r": "ok"}), "NOT_FOUND",
     "unknown activity id"),
    ("resolve-unflagged", (RESOLVE, {"id": str(aid(1)), "r": DROP}), "BAD_USER_INPUT",
     "has no flags"),
    ("resolve-empty-reason", (RESOLVE, {"id": str(aid(1)), "r": "   "}), "BAD_USER_INPUT",
     "reason: say why"),
    ("batch-over-the-maximum", (RECORD_MANY, {"i": [activity(n) for n in range(1_001)]}),
     "LIMIT_EXCEEDED", "(max_batch) is 1000"),
]


@pytest.mark.parametrize(("request_", "code", "words"), [c[1:] for c in WRITE_REFUSALS],
                         ids=[c[0] for c in WRITE_REFUSALS])
async def test_refused_mutation_changes_nothing(
        shared: Api, pristine: dict[str, tuple[int, str]], request_: tuple[str, dict[str, Any]],
        code: str, words: str) -> None:
    err = await refused(shared, *request_)
    assert err["extensions"] == {"code": code}
    assert words in err["message"]
    assert await fingerprint(engine_of(shared)) == pristine


# -- SQL injection in read filters ------------------------------------------------------------

INJECTED_READS = [
    *[(f"area-{i}", filtered(areaCode=s), "NOT_FOUND") for i, s in enumerate(INJECTIONS)],
    *[(f"category-{i}", filtered(category=s), "NOT_FOUND") for i, s in enumerate(INJECTIONS)],
    *[(f"unit-{i}", filtered(unitCode=s), "NOT_FOUND") for i, s in enumerate(INJECTIONS)],
    *[(f"staff-{i}", filtered(staffId=s), "BAD_USER_INPUT") for i, s in enumerate(INJECTIONS)],
    *[(f"cursor-{i}", (ACTS_AFTER, {"a": s}), "BAD_USER_INPUT") for i, s in enumerate(INJECTIONS)],
    *[(f"parent-{i}", (AREAS, {"p": s}), "NOT_FOUND") for i, s in enumerate(INJECTIONS)],
    *[(f"activity-{i}", (ACTIVITY, {"id": s}), "BAD_USER_INPUT") for i, s in enumerate(INJECTIONS)],
]


@pytest.mark.parametrize(("request_", "code"), [c[1:] for c in INJECTED_READS],
                         ids=[c[0] for c in INJECTED_READS])
async def test_injection_in_a_read_is_just_an_unknown_value(
        shared: Api, pristine: dict[str, tuple[int, str]], request_: tuple[str, dict[str, Any]],
        code: str) -> None:
    err = await refused(shared, *request_)
    assert err["extensions"] == {"code": code}
    assert await tables_exist(engine_of(shared))
    total = await shared.data("{ activities { totalCount } }")
    assert total == {"activities": {"totalCount": SEEDED}}   # no extra rows, none gone
    assert await fingerprint(engine_of(shared)) == pristine


async def test_injection_in_an_area_code_lookup_finds_nothing(shared: Api) -> None:
    for s in INJECTIONS:
        assert await shared.data("query($c: String!) { area(code: $c) { code } }",
                                 {"c": s}) == {"area": None}


async def test_injection_in_a_note_is_stored_as_text(api: Api) -> None:
    engine = engine_of(api)
    for n, s in enumerate(INJECTIONS):
        result = (await api.data(RECORD_ONE, {"i": activity(n, note=s)}))["recordActivity"]
        assert (result["status"], result["activity"]["note"]) == ("CREATED", s)
    assert await tables_exist(engine)
    counts = await fingerprint(engine)
    assert counts["activities"][0] == 8 + len(INJECTIONS)
    assert counts["targets"][0] == 2


# -- unicode and size -------------------------------------------------------------------------

NOTES = [
    "Posyandu Melati 🧕🏽👶🏻 — 12 balita ditimbang ✅",
    "👨‍👩‍👧‍👦 keluarga 🇮🇩",                                   # ZWJ sequence and a flag
    "مرحبا بالعالم، زيارة منزلية",                               # Arabic, right to left
    "שלום \u202eRTL override\u202c end",                          # Hebrew and bidi controls
    "Cafe\u0301 vs Café; Z̷̢̛a̴l̸g̶o̵",                             # combining marks, unnormalised
    "ꦱꦸꦫꦧꦪ · 泗水 · Сурабая",                                     # Javanese, CJK, Cyrillic
    "\u200b\ufeffzero-width\u2060joiners",
    "🏳️‍🌈" * 1_000,                                              # 4,000 code points exactly
]


async def test_unicode_notes_round_trip(api: Api) -> None:
    for n, note in enumerate(NOTES):
        result = (await api.data(RECORD_ONE, {"i": activity(n, note=note)}))["recordActivity"]
        assert result["status"] == "CREATED", (note, result["error"])
        assert result["activity"]["note"] == note
        read = await api.data("query($id: ID!) { activity(id: $id) { note } }", {"id": new_id(n)})
        assert read == {"activity": {"note": note}}


async def test_a_two_megabyte_note_hits_the_body_cap(shared: Api,
                                                     pristine: dict[str, tuple[int, str]]) -> None:
    note = "ü" * 1_000_000
    body = orjson.dumps({"query": RECORD_ONE, "variables": {"i": activity(1, note=note)}})
    assert len(body) > 1_048_576
    r = await shared.http.post("/graphql", content=body,
                               headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED"}
    assert await fingerprint(engine_of(shared)) == pristine


# -- malformed requests -----------------------------------------------------------------------

FILTERING = b'{"query": "query($f: ActivityFilter) { activities(filter: $f) { totalCount } }", '
RAW = [
    ("truncated-json", b'{"query": "{ units { code } }"', "Unable to parse request body as JSON"),
    ("json-nan", FILTERING + b'"variables": {"f": {"bbox": [NaN, -7.3, 112.8, -7.2]}}}',
     "Unable to parse"),
    ("json-1e400", FILTERING + b'"variables": {"f": {"within": {"type": "Polygon", '
                               b'"coordinates": [[[1e400, 1], [2, 2], [2, 1], [1e400, 1]]]}}}}',
     "Unable to parse"),
    ("json-string", b'"{ units { code } }"',
     "expected a JSON object (a GraphQL request), got a string"),
    ("json-number", b"42", "got a number"),
    ("json-null", b"null", "got null"),
    ("json-batch", b'[{"query": "{ units { code } }"}]', "Batching is not enabled"),
    ("query-not-a-string", b'{"query": 5}', "`query` must be a string"),
    ("variables-not-an-object", b'{"query": "{ units { code } }", "variables": [1]}',
     "`variables` must be an object"),
    ("no-query", b'{"variables": {}}', "No GraphQL query found"),
    ("empty-query", b'{"query": ""}', "No GraphQL query found"),
    ("unknown-operation", b'{"query": "{ units { code } }", "operationName": "Nope"}',
     "Unknown operation named"),
]


@pytest.mark.parametrize(("body", "words"), [c[1:] for c in RAW], ids=[c[0] for c in RAW])
async def test_malformed_request_is_400_bad_request(shared: Api, body: bytes, words: str) -> None:
    r = await shared.http.post("/graphql", content=body,
                               headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    clean(r.text)
    err = r.json()["errors"][0]
    assert err["extensions"] == {"code": "BAD_REQUEST"}
    assert words in err["message"]


async def test_a_body_that_is_not_json_is_400(shared: Api) -> None:
    r = await shared.http.post("/graphql", content=b"query=%7B%7D",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


@pytest.mark.parametrize(("params", "code"), [
    ({"category": "\x00"}, "BAD_USER_INPUT"),
    ({"unitCode": "DINKES\x00"}, "BAD_USER_INPUT"),
    ({"areaCode": DROP}, "NOT_FOUND"),
    ({"category": OR_TRUE}, "NOT_FOUND"),
    ({"from": "2026-10-01", "to": "2027-12-31"}, "LIMIT_EXCEEDED"),
    ({"from": "2026-10-01", "to": "9999-12-31"}, "BAD_USER_INPUT"),
    ({"to": "0001-01-01"}, "BAD_USER_INPUT"),
], ids=["category-nul", "unit-nul", "area-injection", "category-injection", "period-too-long",
        "to-9999", "to-year-1-without-from"])
async def test_bad_tile_query_is_a_coded_400(shared: Api, params: dict[str, str],
                                             code: str) -> None:
    for layer in ("areas", "activities"):
        r = await shared.http.get(f"/tiles/{layer}/12/3263/2174.mvt", params=params)
        assert r.status_code == 400
        clean(r.text)
        assert r.json()["error"]["code"] == code
    assert await tables_exist(engine_of(shared))


# -- NIP --------------------------------------------------------------------------------------


def test_no_input_takes_a_nip() -> None:
    """So a NIP's shape is the validator's and the database's business (tests/test_nip.py)."""
    sdl = graphql.build_schema(schema.as_str())
    inputs = [t for t in sdl.type_map.values() if isinstance(t, graphql.GraphQLInputObjectType)]
    assert inputs
    assert not [f"{t.name}.{f}" for t in inputs for f in t.fields if "nip" in f.lower()]
    args = [f"{t.name}.{f}({a})" for t in sdl.type_map.values()
            if isinstance(t, graphql.GraphQLObjectType) and not t.name.startswith("__")
            for f, d in t.fields.items() for a in d.args if "nip" in a.lower()]
    assert args == []
