"""OGC API – Features (Part 1: Core, GeoJSON, HTML, OpenAPI 3.0) under /ogc, for QGIS, GDAL
and notebooks.

Collections: `kelurahan`, `kecamatan`, `kota` (boundaries with the coverage figures and target
attainment of the `datetime` period; feature id = Kemendagri code) and `activities` (points,
for callers who may read records). Access follows graph.permissions (OGC_RULES) as in GraphQL;
every refusal is an OGC exception `{"code", "description"}` with 400, 401, 403 or 404. Links
carry the request's connection parameters (`key`, `datetime`, `unitCode`, `category`), so
that a client that follows them stays authenticated and on the same period.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from geo import access_log, features
from geo.access_log import Ledger, Reader
from geo.errors import JangkauError, NotFound
from geo.periods import WIB
from geo.tiles import city_bounds
from graph import ogc_html, permissions
from graph.auth import Forbidden, Unauthenticated
from graph.context import Context, context_of
from graph.edge import error_response
from graph.ogc_openapi import GEOJSON, OPENAPI, document
from graph.ogc_params import (
    CARRIED,
    CRS84,
    FEATURE_PARAMS,
    ITEM_PARAMS,
    OTHER_PARAMS,
    Items,
    check_known,
    one,
    parse_datetime,
    parse_items,
    wants,
)

JSON = "application/json"
HTML = "text/html"
CONFORMANCE = [f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}"
               for c in ("core", "geojson", "html", "oas30")]
PRIVATE = "private, max-age=60"


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    level: str | None                    # the areas' level; None: activity points
    properties: tuple[str, ...]


COLLECTIONS = {c.id: c for c in (
    Collection("kelurahan", "Kelurahan", "Surabaya's 153 kelurahan with the coverage figures "
               "and target attainment of the period", "KELURAHAN", features.AREA_PROPERTIES),
    Collection("kecamatan", "Kecamatan", "Surabaya's 31 kecamatan with the coverage figures "
               "and target attainment of the period", "KECAMATAN", features.AREA_PROPERTIES),
    Collection("kota", "Kota Surabaya", "The city with the coverage figures and target "
               "attainment of the period", "CITY", features.AREA_PROPERTIES),
    Collection("activities", "Activities", "Field activities as points, newest first (for "
               "callers who may read records)", None, features.ACTIVITY_PROPERTIES),
)}


def _refused(request: Request, exc: JangkauError) -> JSONResponse:
    """An OGC exception (graph.edge's envelope for /ogc); an unknown id or code is a 404."""
    return error_response(exc, path=request.url.path,
                          status=404 if isinstance(exc, NotFound) else None)


Handler = Callable[[Request, Context], Awaitable[Response]]


def _route(path: str, handler: Handler) -> Route:
    async def endpoint(request: Request) -> Response:
        ctx = context_of(request)
        try:
            response = await handler(request, ctx)
        except JangkauError as exc:
            return _refused(request, exc)
        response.headers["Vary"] = "Accept, Authorization, X-API-Key"
        if ctx.principal is not None:
            response.headers["Cache-Control"] = PRIVATE
        return response

    return Route(path, endpoint, methods=["GET"])


def _href(request: Request, path: str, **params: str | int | None) -> str:
    """An absolute /ogc URL with `params`, keeping the request's connection parameters
    (CARRIED: the key, the period and the filter)."""
    query = [(k, str(v)) for k, v in params.items() if v is not None]
    query += dict.fromkeys((k, v) for k, v in request.query_params.multi_items()
                           if k in CARRIED and k not in params)
    base = f"{str(request.base_url).rstrip('/')}/ogc{path}"
    return f"{base}?{urlencode(query)}" if query else base


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


def _self_links(request: Request, path: str, fmt: str, json_type: str = JSON,
                **params: str | int | None) -> list[dict[str, str]]:
    html = fmt == "html"
    return [_link(_href(request, path, **params, f=fmt), "self", HTML if html else json_type,
                  "this document"),
            _link(_href(request, path, **params, f="json" if html else "html"), "alternate",
                  json_type if html else HTML, "this document as " + ("JSON" if html else "HTML"))]


def _answer(fmt: str, title: str, doc: dict[str, Any], json_type: str = JSON) -> Response:
    if fmt == "html":
        return HTMLResponse(ogc_html.document(title, doc))
    return Response(orjson.dumps(doc), media_type=json_type)


def _format(request: Request, known: tuple[str, ...] = OTHER_PARAMS) -> str:
    """json or html; the parameters checked (the period too, though only items read it)."""
    query = request.query_params
    check_known(query, known)
    parse_datetime(one(query, "datetime"), _today(), request.app.state.settings.max_period_days)
    return wants(query, request.headers.get("accept"))


async def landing(request: Request, ctx: Context) -> Response:
    fmt = _format(request)
    return _answer(fmt, "Jangkau", {
        "title": "Jangkau", "description": "Where Surabaya's civil servants served citizens in "
        "the field, area by area: OGC API – Features.",
        "links": [*_self_links(request, "", fmt),
                  _link(_href(request, "/api"), "service-desc", OPENAPI, "the API definition"),
                  _link(_href(request, "/api", f="html"), "service-doc", HTML,
                        "the API documentation"),
                  _link(_href(request, "/conformance"), "conformance", JSON,
                        "conformance classes"),
                  _link(_href(request, "/collections"), "data", JSON, "the collections")]})


async def conformance(request: Request, ctx: Context) -> Response:
    fmt = _format(request)
    return _answer(fmt, "Conformance", {"conformsTo": CONFORMANCE,
                                        "links": _self_links(request, "/conformance", fmt)})


async def api(request: Request, ctx: Context) -> Response:
    fmt = _format(request)
    doc = document(_href(request, "").split("?")[0])
    if fmt == "html":
        return HTMLResponse(ogc_html.preformatted("Jangkau OGC API definition", doc))
    return Response(orjson.dumps(doc), media_type=OPENAPI)


def _readable(ctx: Context, c: Collection) -> bool:
    try:
        _check(ctx, c)
    except (Unauthenticated, Forbidden):
        return False
    return True


def _check(ctx: Context, c: Collection) -> None:
    permissions.check(permissions.OGC_RULES[c.id], ctx.principal, ctx.settings,
                      f"the {c.id} collection", c.level)


def _collection(name: str) -> Collection:
    c = COLLECTIONS.get(name)
    if c is None:
        raise NotFound(f"unknown collection {name!r:.40}; collections: {', '.join(COLLECTIONS)}")
    return c


def _describe(request: Request, c: Collection, bounds: tuple[float, ...]) -> dict[str, Any]:
    items = f"/collections/{c.id}/items"
    return {
        "id": c.id, "title": c.title, "description": c.description, "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [list(bounds)], "crs": CRS84},
                   "temporal": {"interval": [[None, None]],
                                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}},
        "links": [_link(_href(request, f"/collections/{c.id}"), "self", JSON, c.title),
                  _link(_href(request, items), "items", GEOJSON, f"{c.title} as GeoJSON"),
                  _link(_href(request, items, f="html"), "items", HTML, f"{c.title} as HTML")],
    }


async def _bounds(ctx: Context) -> tuple[float, ...]:
    async with ctx.db() as conn:
        return await city_bounds(conn) or (-180.0, -90.0, 180.0, 90.0)


async def collections(request: Request, ctx: Context) -> Response:
    fmt = _format(request)
    bounds = await _bounds(ctx)
    return _answer(fmt, "Collections", {
        "collections": [_describe(request, c, bounds) for c in COLLECTIONS.values()
                        if _readable(ctx, c)],
        "links": _self_links(request, "/collections", fmt)})


async def collection(request: Request, ctx: Context) -> Response:
    fmt = _format(request)
    c = _collection(request.path_params["collectionId"])
    _check(ctx, c)
    doc = _describe(request, c, await _bounds(ctx))
    doc["links"] = [*_self_links(request, f"/collections/{c.id}", fmt), *doc["links"][1:]]
    return _answer(fmt, c.title, doc)


def _today() -> date:
    return datetime.now(WIB).date()


async def _read(ctx: Context, c: Collection, q: Items, *, fid: str | None = None
                ) -> features.Page:
    """A page of the collection, narrowed to what the caller may see; reads of others'
    activities go to the access log before the answer leaves."""
    _check(ctx, c)
    if c.level is not None:
        f = await permissions.aggregates(ctx, q.filter, c.level)
        async with ctx.db() as conn:        # a replica when one is usable
            return await features.areas_page(
                conn, c.level, q.period, f, bbox=q.bbox, code=fid, limit=q.limit,
                offset=q.offset, keep=q.properties, min_staff=permissions.min_staff(ctx, f))
    # The primary: the points' access log rows are written with the page.
    async with ctx.engine.connect() as conn:
        one_id = None
        if fid is not None:
            try:
                one_id = uuid.UUID(fid)
            except ValueError:
                raise NotFound(f"no activity has the id {fid!r:.40}") from None
        f = await permissions.records(ctx, q.filter)
        # One activity named by id is found whatever the period.
        f = replace(f, period=q.period if fid is None else None, bbox=q.bbox)
        page = await features.activities_page(conn, f, limit=q.limit, offset=q.offset,
                                              keep=q.properties, one=one_id)
        p = ctx.principal
        assert p is not None       # records() refuses the anonymous
        ledger = Ledger(Reader(p.sub, p.role, p.staff_id))
        ledger.note("ogc/activities", page.read)
        if await access_log.write(conn, ledger.reader, ledger.entries()):
            await conn.commit()
        return page


async def items(request: Request, ctx: Context) -> Response:
    fmt = _format(request, ITEM_PARAMS)
    c = _collection(request.path_params["collectionId"])
    q = parse_items(request.query_params, ITEM_PARAMS, c.properties, _today(),
                    ctx.settings.max_period_days)
    page = await _read(ctx, c, q)
    path = f"/collections/{c.id}/items"
    kept = {k: v for k, v in request.query_params.items()
            if k not in ("f", "offset", *CARRIED)}
    links = _self_links(request, path, fmt, GEOJSON, **kept,
                        offset=q.offset or None)
    if q.offset + len(page.features) < page.matched:
        links.append(_link(_href(request, path, **kept, offset=q.offset + q.limit, f=fmt),
                           "next", GEOJSON if fmt == "json" else HTML, "the next page"))
    if q.offset > 0:
        links.append(_link(_href(request, path, **kept, offset=max(q.offset - q.limit, 0) or None,
                                 f=fmt), "prev", GEOJSON if fmt == "json" else HTML,
                           "the previous page"))
    links.append(_link(_href(request, f"/collections/{c.id}"), "collection", JSON, c.title))
    body = {"type": "FeatureCollection", "numberMatched": page.matched,
            "numberReturned": len(page.features),
            "timeStamp": datetime.now(WIB).isoformat(timespec="seconds"), "links": links,
            "features": orjson.Fragment(b"[" + ",".join(page.features).encode() + b"]")}
    if fmt == "html":
        return HTMLResponse(ogc_html.features(c.title, orjson.loads(orjson.dumps(body))))
    return Response(orjson.dumps(body), media_type=GEOJSON)


async def item(request: Request, ctx: Context) -> Response:
    fmt = _format(request, FEATURE_PARAMS)
    c = _collection(request.path_params["collectionId"])
    fid: str = request.path_params["featureId"]
    query = request.query_params
    q = replace(parse_items(query, FEATURE_PARAMS, c.properties, _today(),
                            ctx.settings.max_period_days), limit=1)
    page = await _read(ctx, c, q, fid=fid)
    if not page.features:
        raise NotFound(f"the {c.id} collection has no feature {fid!r:.60}")
    path = f"/collections/{c.id}/items/{fid}"
    kept = {k: v for k, v in query.items() if k not in ("f", *CARRIED)}
    links = [*_self_links(request, path, fmt, GEOJSON, **kept),
             _link(_href(request, f"/collections/{c.id}"), "collection", JSON, c.title)]
    feature = page.features[0]
    if fmt == "html":
        doc = {**orjson.loads(feature), "links": links}
        return HTMLResponse(ogc_html.features(f"{c.title} {fid}", doc))
    # The Feature PostgreSQL wrote, with the links added before its closing brace.
    body = feature[:-1] + ',"links":' + orjson.dumps(links).decode() + "}"
    return Response(body, media_type=GEOJSON)


routes = [
    _route("/ogc", landing),
    _route("/ogc/conformance", conformance),
    _route("/ogc/api", api),
    _route("/ogc/collections", collections),
    _route("/ogc/collections/{collectionId}", collection),
    _route("/ogc/collections/{collectionId}/items", items),
    _route("/ogc/collections/{collectionId}/items/{featureId}", item),
]
