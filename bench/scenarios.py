"""The read scenarios, each against its reference in the same run: coverage over 30 and 90
days and the newest activities page against raw SQL through asyncpg, coverageMap against a
json_agg FeatureCollection, tiles against tipg. Every pair's answers are compared first."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import orjson

from bench import BenchError, queries, sql
from bench.client import GraphQL, Http
from bench.context import Bench, compare, same
from bench.report import NOT_AVAILABLE, QUICK_SKIP, Goal, Row
from geo.shapes import band_for_zoom

LATENCY_GOAL = {1.2: Goal("p50 ≤ 1.2×", "ratio", "<=", 1.2),
                0.2: Goal("p50 ≤ 0.2× (rollups)", "ratio", "<=", 0.2),
                1.5: Goal("p50 ≤ 1.5×", "ratio", "<=", 1.5),
                1.0: Goal("p50 ≤ 1.0×", "ratio", "<=", 1.0)}
PAGE = 100
MAP_ZOOM = 12
TILE_PROPERTIES = "id,category_code,outcome_met,citizens_served"
TILE_FILTER = "review IN ('NONE','ACCEPTED')"    # sql.COUNTED in CQL2


async def coverage(b: Bench, days: int, goal: float) -> Row:
    row = Row(f"coverage_{days}d", f"coverage(KELURAHAN, {days} days)",
              "raw SQL aggregate (asyncpg)", "ms", LATENCY_GOAL[goal])
    start, end = b.period(days)
    t0, t1 = b.instants(days)
    body = GraphQL.body(queries.COVERAGE, {"from": start.isoformat(), "to": end.isoformat()})

    async def ours() -> list[dict[str, Any]]:
        return b.api.post(body)["coverage"]

    async def theirs() -> list[Any]:
        return await b.conn.fetch(sql.COVERAGE, t0, t1)

    def check(j: list[dict[str, Any]], r: list[Any]) -> None:
        same("coverage", [(c["area"]["code"], c["activities"], c["distinctStaff"],
                            c["citizensServed"], c["outcomesMet"]) for c in j],
              [(x["code"], x["activities"], x["distinct_staff"], x["citizens_served"],
                x["outcomes_met"]) for x in r])

    return row.measured(*await compare(b.opts, ours, theirs, check))


async def activities_page(b: Bench) -> Row:
    row = Row("activities_first_100", f"activities(first: {PAGE}) with location and staff",
              "raw SQL of the same page (asyncpg)", "ms", LATENCY_GOAL[1.5])
    body = GraphQL.body(queries.ACTIVITIES, {"first": PAGE})

    async def ours() -> list[dict[str, Any]]:
        return b.api.post(body)["activities"]["edges"]

    async def theirs() -> list[Any]:
        return await b.conn.fetch(sql.ACTIVITIES_PAGE, PAGE)

    def check(j: list[dict[str, Any]], r: list[Any]) -> None:
        same("activities page", [(e["node"]["id"], e["node"]["staff"]["id"]) for e in j],
              [(str(x["id"]), str(x["staff_id"])) for x in r])

    return row.measured(*await compare(b.opts, ours, theirs, check))


async def activities_page_postgraphile(b: Bench) -> Row:
    """The same page against PostGraphile's (issue 13): `allActivities` newest first with the
    GeoJSON and the staff member, one SQL statement built from the selection."""
    row = Row("activities_first_100_postgraphile",
              f"activities(first: {PAGE}) with location and staff, vs PostGraphile",
              "PostGraphile v4 + @graphile/postgis, same page", "ms", LATENCY_GOAL[1.0])
    body = GraphQL.body(queries.ACTIVITIES, {"first": PAGE})

    async def ours() -> list[dict[str, Any]]:
        return b.api.post(body)["activities"]["edges"]

    if b.postgraphile is None:
        row.measured(*await compare(b.opts, ours, None))
        row.status = QUICK_SKIP
        return row
    pg_body = GraphQL.body(queries.PG_ACTIVITIES, {"first": PAGE})
    peer = Http(b.postgraphile.port)
    peer_api = GraphQL(peer)

    async def theirs() -> list[dict[str, Any]]:
        return peer_api.post(pg_body)["allActivities"]["nodes"]

    def check(j: list[dict[str, Any]], r: list[dict[str, Any]]) -> None:
        same("activities page", [(e["node"]["id"], e["node"]["staff"]["id"]) for e in j],
             [(x["id"], x["staffByStaffId"]["id"]) for x in r])

    try:
        return row.measured(*await compare(b.opts, ours, theirs, check))
    finally:
        peer.close()


async def query_fields(b: Bench) -> set[str]:
    data = b.api(queries.QUERY_FIELDS)
    return {f["name"] for f in data["__type"]["fields"]}


def _features(fc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must agree between two choropleths: figures, attainment and the shapes drawn."""
    out = []
    for f in fc["features"]:
        p = f["properties"]
        attainment = [(a["indicator"], a["actual"], round(a["target"], 6))
                      for a in p["attainment"]]
        out.append((f["id"], p["activities"], p["distinctStaff"], p["citizensServed"],
                    p["outcomesMet"], f["geometry"], attainment))
    return out


async def coverage_map(b: Bench) -> Row:
    row = Row(f"coverage_map_z{MAP_ZOOM}", f"coverageMap(KELURAHAN, 30 days, zoom {MAP_ZOOM})",
              "raw SQL FeatureCollection (json_agg)", "ms", LATENCY_GOAL[1.2])
    if "coverageMap" not in await query_fields(b):
        row.status = NOT_AVAILABLE
        row.note = "coverageMap is not in the schema yet"
        return row
    start, end = b.period(30)
    t0, t1 = b.instants(30)
    band = band_for_zoom(MAP_ZOOM).number
    body = GraphQL.body(queries.COVERAGE_MAP, {"from": start.isoformat(), "to": end.isoformat(),
                                               "zoom": MAP_ZOOM})

    async def ours() -> bytes:
        return b.api.post_unparsed(body)

    async def theirs() -> str:
        return await b.conn.fetchval(sql.COVERAGE_MAP, t0, t1, start, end, band)

    def check(j: bytes, r: str) -> None:
        same("coverageMap", _features(orjson.loads(j)["data"]["coverageMap"]),
             _features(orjson.loads(r)))
        row.note = f"{len(r) / 1024:.0f} KB of GeoJSON, shapes of band {band}"

    return row.measured(*await compare(b.opts, ours, theirs, check))


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web mercator (XYZ) tile holding lon/lat at zoom z."""
    n = 2**z
    rad = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(rad)) / math.pi) / 2 * n)


def _fetch_tile(http: Http, path: str) -> bytes:
    status, body = http.get(path)
    if status not in (200, 204):
        raise BenchError(f"GET {path} on :{http.port}: HTTP {status}: {body[:300]!r}")
    return body


async def tiles(b: Bench) -> list[Row]:
    """Activities at z10/z12/z14 and kelurahan at z12, on the tile at the city's centre."""
    specs = [("activities", z) for z in (10, 12, 14)] + [("areas", 12)]
    titles = {"activities": "activities tile (30 days)", "areas": "kelurahan tile (30 days)"}
    rows = [Row(f"tile_{layer}_z{z}", f"{titles[layer]} z{z}", "tipg, same table and tile", "ms",
                LATENCY_GOAL[1.0]) for layer, z in specs]
    if b.http.get("/tiles/activities.json")[0] == 404:
        for r in rows:
            r.status, r.note = NOT_AVAILABLE, "/tiles is not served yet"
        return rows
    lon, lat = await b.conn.fetchrow(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM areas "
        "WHERE level = 'CITY') x")
    start, end = b.period(30)
    t0, t1 = b.instants(30)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    theirs_http = Http(b.tipg.port) if b.tipg else None
    try:
        for (layer, z), row in zip(specs, rows, strict=True):
            x, y = tile_xy(lon, lat, z)
            if layer == "activities":
                path = f"/tiles/activities/{z}/{x}/{y}.mvt?{urlencode(window)}"
                ref_path = (f"/collections/public.activities/tiles/WebMercatorQuad/{z}/{x}/{y}?"
                            + urlencode({"datetime": f"{t0.isoformat()}/{t1.isoformat()}",
                                         "datetime-column": "started_at",
                                         "filter": TILE_FILTER,
                                         "properties": TILE_PROPERTIES}))
            else:
                path = f"/tiles/areas/{z}/{x}/{y}.mvt?{urlencode({'level': 'KELURAHAN', **window})}"
                ref_path = (f"/collections/public.areas/tiles/WebMercatorQuad/{z}/{x}/{y}?"
                            + urlencode({"level": "KELURAHAN", "properties": "code,name"}))
            await _tile_row(b, row, path, theirs_http, ref_path)
    finally:
        if theirs_http:
            theirs_http.close()
    return rows


async def _tile_row(b: Bench, row: Row, path: str, theirs_http: Http | None, ref_path: str) -> None:
    sizes: dict[str, int] = {}

    async def ours() -> bytes:
        sizes["Jangkau"] = len(body := _fetch_tile(b.http, path))
        return body

    async def theirs() -> bytes:
        assert theirs_http is not None
        sizes["tipg"] = len(body := _fetch_tile(theirs_http, ref_path))
        return body

    row.measured(*await compare(b.opts, ours, theirs if theirs_http else None))
    tile = path.split("/", 3)[3].split(".")[0]
    row.note = f"tile {tile}: " + ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in sizes.items())
    if theirs_http is None:
        row.status = QUICK_SKIP
