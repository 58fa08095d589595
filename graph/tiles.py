"""Vector tiles over HTTP: `/tiles/{layer}/{z}/{x}/{y}.mvt` and TileJSON at `/tiles/{layer}.json`.

Query parameters (`from`, `to` as WIB dates, the activity filter fields, `level` for areas,
`staffId` for one person's points) are
checked here and become the data layer's Period and ActivityFilter. Tiles carry an ETag (a hash
of the body) and may be cached for a minute; an empty tile is a 204.

Access follows graph.permissions (TILE_RULES), as in GraphQL, for the caller graph.edge found
(a bearer token or an API key: `X-API-Key`, or `key` in the query for GIS tools): one that does
not verify, or none where one is needed, is a 401; a role that may not read the layer, or a
unitCode outside the caller's unit, a 403. Tiles read with a token or a key are cacheable only
privately, and vary with both headers; a TileJSON asked with a key puts it in its tile URLs.
Activity points of other people go to the access log.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from geo.access_log import Reader
from geo.boundaries import LEVELS
from geo.errors import BadInput, JangkauError, NotFound
from geo.filters import ActivityFilter
from geo.periods import WIB, Period, check_day, make_period
from geo.record import parse_uuid
from geo.settings import Settings
from geo.tiles import LAYERS, Layer, activities_tile, areas_tile, city_bounds, parse_tile
from graph import permissions
from graph.api_keys import KEY_PARAM, key_of
from graph.context import Context, context_of
from graph.edge import error_response
from graph.query_params import boolean, day, one

MVT_TYPE = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "public, max-age=60"
PRIVATE_CACHE_CONTROL = "private, max-age=60"   # figures scoped to the token: no shared cache
DEFAULT_DAYS = 30
TILEJSON_MAXZOOM = 16    # clients overzoom beyond; the endpoint still serves up to z22
WORLD = (-180.0, -85.051129, 180.0, 85.051129)
FILTER_PARAMS = ("from", "to", "category", "unitCode", "outcomeMet", "areaCode")
# One person's points (the map page's team tab); records permissions still narrow them.
PARAMS = {"areas": ("level", *FILTER_PARAMS), "activities": (*FILTER_PARAMS, "staffId")}


@dataclass(frozen=True)
class TileQuery:
    level: str
    period: Period
    filter: ActivityFilter


def _refused(request: Request, exc: JangkauError, status: int | None = None) -> JSONResponse:
    """In graph.edge's plain envelope: 401 without a valid token, 403 for what the token may
    not read, 400 for the rest (unknown codes in the filter are a bad request for this tile,
    whatever their code)."""
    return error_response(exc, path=request.url.path, status=status)


async def _allowed(ctx: Context, layer: Layer, q: TileQuery) -> TileQuery:
    """The layer's rule, and the query narrowed to what the caller may see."""
    areas = layer.id == "areas"
    permissions.check(permissions.TILE_RULES[layer.id], ctx.principal, ctx.settings,
                      f"the {layer.id} tiles", q.level if areas else None)
    f = await permissions.aggregates(ctx, q.filter, q.level) if areas \
        else await permissions.records(ctx, q.filter)
    return replace(q, filter=f or ActivityFilter())


def _cache_headers(ctx: Context) -> dict[str, str]:
    return {"Cache-Control": PRIVATE_CACHE_CONTROL if ctx.principal else CACHE_CONTROL,
            "Vary": "Authorization, X-API-Key"}


def _date(query: QueryParams, name: str, default: date) -> date:
    given = day(query, name)
    return default if given is None else given


def _staff(query: QueryParams) -> uuid.UUID | None:
    given = one(query, "staffId")
    return None if given is None else parse_uuid(given, "staffId")


def parse_query(query: QueryParams, layer: str, settings: Settings, today: date) -> TileQuery:
    """The layer's parameters, checked; the period defaults to the 30 days ending `today`."""
    unknown = sorted(set(query) - set(PARAMS[layer]) - {KEY_PARAM})
    if unknown:
        raise BadInput(f"unknown query parameter {unknown[0]!r:.40} for layer {layer!r}; "
                       f"known: {', '.join(PARAMS[layer])}")
    level = one(query, "level") or "KELURAHAN"
    if level not in LEVELS:
        raise BadInput(f"'level' must be one of {', '.join(LEVELS)}, got {level!r:.30}")
    end = check_day(_date(query, "to", today), "'to'")
    period = make_period(_date(query, "from", end - timedelta(days=DEFAULT_DAYS - 1)), end,
                         settings.max_period_days)
    f = ActivityFilter(area_code=one(query, "areaCode"), unit_code=one(query, "unitCode"),
                       category=one(query, "category"), outcome_met=boolean(query, "outcomeMet"),
                       staff_id=_staff(query))
    return TileQuery(level, period, f)


def _layer(request: Request) -> Layer | JSONResponse:
    name: str = request.path_params["layer"]
    layer = LAYERS.get(name)
    if layer is None:
        return _refused(request, NotFound(
            f"unknown tile layer {name!r:.40}; layers: {', '.join(LAYERS)}"), 404)
    return layer


def _today() -> date:
    return datetime.now(WIB).date()


def etag_of(body: bytes) -> str:
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def _fresh(if_none_match: str | None, etag: str) -> bool:
    """The client's copy is current (RFC 9110 weak comparison)."""
    if if_none_match is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


async def tile(request: Request) -> Response:
    layer = _layer(request)
    if isinstance(layer, JSONResponse):
        return layer
    p = request.path_params
    settings: Settings = request.app.state.settings
    try:
        ctx = context_of(request)
        t = parse_tile(p["z"], p["x"], p["y"])
        q = await _allowed(ctx, layer, parse_query(request.query_params, layer.id, settings,
                                                   _today()))
        if layer.id == "areas":
            async with ctx.db() as conn:        # a replica when one is usable
                body = await areas_tile(conn, t, q.level, q.period, q.filter,
                                        permissions.min_staff(ctx, q.filter))
        else:
            # The primary: the points' access log rows are written with the tile.
            async with ctx.engine.connect() as conn:
                who = ctx.principal
                body = await activities_tile(
                    conn, t, q.period, q.filter,
                    reader=Reader(who.sub, who.role, who.staff_id) if who else None)
                await conn.commit()
    except JangkauError as exc:
        return _refused(request, exc)
    headers = _cache_headers(ctx)
    if not body:
        return Response(status_code=204, headers=headers)
    headers["ETag"] = etag_of(body)
    if _fresh(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MVT_TYPE, headers=headers)


async def tilejson(request: Request) -> Response:
    """TileJSON 3.0.0; the tiles URL keeps this request's (checked) query parameters."""
    layer = _layer(request)
    if isinstance(layer, JSONResponse):
        return layer
    try:
        ctx = context_of(request)
        await _allowed(ctx, layer, parse_query(request.query_params, layer.id,
                                               request.app.state.settings, _today()))
        key = key_of(request, key_param=True)
    except JangkauError as exc:
        return _refused(request, exc)
    async with ctx.db() as conn:
        west, south, east, north = await city_bounds(conn) or WORLD
    # The tile URLs carry the key the TileJSON was asked with, header or query, so that a GIS
    # tool or MapLibre can load the tiles from this document alone.
    params = [(k, v) for k, v in request.query_params.multi_items() if k != KEY_PARAM]
    query = urlencode(params + ([(KEY_PARAM, key)] if key else []))
    url = f"{str(request.base_url).rstrip('/')}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt"
    return JSONResponse({
        "tilejson": "3.0.0",
        "name": f"Jangkau {layer.id}",
        "description": layer.description,
        "scheme": "xyz",
        "tiles": [f"{url}?{query}" if query else url],
        "minzoom": 0,
        "maxzoom": TILEJSON_MAXZOOM,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, 11],
        "vector_layers": [{"id": layer.id, "description": layer.description,
                           "fields": layer.fields, "minzoom": 0, "maxzoom": TILEJSON_MAXZOOM}],
    }, headers=_cache_headers(ctx))


routes = [
    Route("/tiles/{layer}.json", tilejson, methods=["GET"]),
    Route("/tiles/{layer}/{z}/{x}/{y}.mvt", tile, methods=["GET"]),
]
