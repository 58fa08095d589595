"""The OpenAPI 3.0 document of /ogc: what GDAL, QGIS and validators read to learn the API.

Written by hand from the same constants the handlers check (collections, parameters, limits),
so the document and the behaviour cannot drift far; tests validate it with
openapi-spec-validator and compare its parameters with what the handlers accept.
"""

from __future__ import annotations

from typing import Any

from graph.ogc_params import CARRIED, DEFAULT_LIMIT, FEATURE_PARAMS, ITEM_PARAMS, MAX_LIMIT

GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


def _param(name: str, description: str, schema: dict[str, Any], *, where: str = "query",
           required: bool = False, explode: bool | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "description": description,
                         "required": required, "schema": schema}
    if explode is not None:
        p["style"], p["explode"] = "form", explode
    return p


PARAMETERS: dict[str, dict[str, Any]] = {
    "f": _param("f", "The format of the answer: json (GeoJSON / JSON) or html.",
                {"type": "string", "enum": ["json", "html"]}),
    "key": _param("key", "An API key (`jangkau keys create`), for clients that cannot send the "
                  "X-API-Key header.", {"type": "string"}),
    "collectionId": _param("collectionId", "The collection.",
                           {"type": "string",
                            "enum": ["kelurahan", "kecamatan", "kota", "activities"]},
                           where="path", required=True),
    "featureId": _param("featureId", "A Kemendagri code (areas) or an activity's UUID.",
                        {"type": "string"}, where="path", required=True),
    "bbox": _param("bbox", "minLon,minLat,maxLon,maxLat in WGS84 (CRS84): the features that "
                   "intersect it.", {"type": "array", "minItems": 4, "maxItems": 4,
                                     "items": {"type": "number"}}, explode=False),
    "bbox-crs": _param("bbox-crs", "Only CRS84 is served.",
                       {"type": "string", "format": "uri",
                        "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]}),
    "datetime": _param("datetime", "A WIB day (2026-11-01) or an interval of WIB days "
                       "(2026-11-01/2026-11-30, `..` for an open end): the period of the "
                       "figures, or of the activities. Default: the 30 days ending today.",
                       {"type": "string"}, explode=False),
    "limit": _param("limit", "Features a page at most.",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                     "default": DEFAULT_LIMIT}, explode=False),
    "offset": _param("offset", "Features to skip (the `next` link sets it).",
                     {"type": "integer", "minimum": 0, "default": 0}, explode=False),
    "properties": _param("properties", "Only these properties, comma separated.",
                         {"type": "array", "items": {"type": "string"}}, explode=False),
    "unitCode": _param("unitCode", "Only activities of this unit and the units below it.",
                       {"type": "string"}),
    "category": _param("category", "Only activities of this service category.",
                       {"type": "string"}),
}


def _refs(*names: str) -> list[dict[str, str]]:
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def _ok(description: str, *types: str) -> dict[str, Any]:
    return {"200": {"description": description,
                    "content": {t: {"schema": {"type": "string"} if t == "text/html"
                                    else {"type": "object"}} for t in types}},
            "default": {"$ref": "#/components/responses/Exception"}}


def _get(summary: str, operation: str, params: list[dict[str, str]],
         responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "operationId": operation, "tags": ["Features"],
                    "parameters": params, "responses": responses}}


def document(base: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document; `base` is the absolute URL of /ogc."""
    json_html = ("application/json", "text/html")
    return {
        "openapi": "3.0.3",
        "info": {"title": "Jangkau: OGC API – Features", "version": "1.0.0",
                 "description": "Surabaya's kelurahan, kecamatan and city with the coverage "
                 "figures and target attainment of a period, and (for those who may read "
                 "records) activity points. Authenticate with an API key (X-API-Key or `key`) "
                 "or a bearer token."},
        "servers": [{"url": base}],
        "tags": [{"name": "Features"}],
        "components": {
            "parameters": PARAMETERS,
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"exception": {
                "type": "object", "required": ["code"],
                "properties": {"code": {"type": "string"},
                               "description": {"type": "string"}}}},
            "responses": {"Exception": {
                "description": "A refusal: 400 bad parameter, 401 no or bad credential, 403 "
                "not allowed, 404 unknown collection or feature.",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/exception"}}}}},
        },
        "security": [{}, {"apiKeyHeader": []}, {"apiKeyQuery": []}, {"bearer": []}],
        "paths": {
            "/": _get("Landing page", "getLandingPage", _refs("f", *CARRIED),
                      _ok("Links to the API, conformance and collections", *json_html)),
            "/conformance": _get("Conformance classes", "getConformanceDeclaration",
                                 _refs("f", *CARRIED),
                                 _ok("The conformance classes implemented", *json_html)),
            "/api": _get("This document", "getAPI", _refs("f", *CARRIED),
                         _ok("The OpenAPI document", OPENAPI, "text/html")),
            "/collections": _get("Collections", "getCollections", _refs("f", *CARRIED),
                                 _ok("The collections the caller may read", *json_html)),
            "/collections/{collectionId}": _get(
                "A collection", "describeCollection", _refs("collectionId", "f", *CARRIED),
                _ok("The collection's metadata", *json_html)),
            "/collections/{collectionId}/items": _get(
                "Features of a collection", "getFeatures",
                _refs("collectionId", *ITEM_PARAMS),
                _ok("A page of features", GEOJSON, "text/html")),
            "/collections/{collectionId}/items/{featureId}": _get(
                "One feature", "getFeature",
                _refs("collectionId", "featureId", *FEATURE_PARAMS),
                _ok("The feature", GEOJSON, "text/html")),
        },
    }
