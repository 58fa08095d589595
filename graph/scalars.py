"""Custom scalars. GeoJSON leaves the server as the text PostGIS wrote, never re-serialised."""

from __future__ import annotations

from typing import Any, NewType

import orjson
import strawberry
from graphql import ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition


def _serialize_geojson(value: Any) -> Any:
    # Text from ST_AsGeoJSON / json_agg goes out as it is: orjson embeds a Fragment verbatim.
    if isinstance(value, str | bytes):
        return orjson.Fragment(value)
    return value


def _parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


GeoJSON = NewType("GeoJSON", object)

GEOJSON_SCALAR = strawberry.scalar(
    name="GeoJSON",
    description="An RFC 7946 GeoJSON object (geometry or FeatureCollection), WGS84 lon/lat.",
    specified_by_url="https://www.rfc-editor.org/rfc/rfc7946",
    serialize=_serialize_geojson,
    parse_value=lambda v: v,
    parse_literal=_parse_literal,
)

SCALARS: dict[object, ScalarDefinition] = {GeoJSON: GEOJSON_SCALAR}
