"""An RFC 7946 checker for GeoJSON as parsed by `json.loads`, strict where the RFC says MUST.

`check_feature_collection(doc)` and `check_geometry(geom)` raise AssertionError naming the first
fault and where it is (e.g. `features[3].geometry.coordinates[0][1]: ring not closed`). Beyond
the letter of the RFC they require what Jangkau promises: no `crs` member, and coordinates of at
most `decimals` decimals. Ring orientation is the planar one in lon/lat, as the RFC means it.
"""

from __future__ import annotations

from typing import Any

GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "GeometryCollection"}
# RFC 7946 section 7.1: members that define one kind of object must not appear on another.
FORBIDDEN = {
    "FeatureCollection": {"coordinates", "geometries", "geometry", "properties"},
    "Feature": {"coordinates", "geometries", "features"},
    "Geometry": {"geometry", "properties", "features"},
}


def _object(value: Any, kind: str, where: str) -> dict[str, Any]:
    assert isinstance(value, dict), f"{where}: a {kind} must be a JSON object"
    assert "crs" not in value, f"{where}: 'crs' is not RFC 7946 (coordinates are WGS84 lon/lat)"
    bad = FORBIDDEN[kind] & value.keys()
    assert not bad, f"{where}: a {kind} must not have {sorted(bad)}"
    if "bbox" in value:
        box = value["bbox"]
        assert isinstance(box, list) and len(box) in (4, 6) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in box), \
            f"{where}.bbox: must be 2*n numbers"
    return value


def _number(value: Any, where: str, decimals: int) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), \
        f"{where}: {value!r} is not a number"
    assert round(value, decimals) == value, f"{where}: {value!r} has more than {decimals} decimals"
    return float(value)


def _position(value: Any, where: str, decimals: int) -> tuple[float, float]:
    assert isinstance(value, list) and len(value) in (2, 3), \
        f"{where}: a position is [lon, lat] or [lon, lat, height], got {value!r}"
    lon, lat = (_number(v, f"{where}[{i}]", decimals) for i, v in enumerate(value[:2]))
    if len(value) == 3:
        _number(value[2], f"{where}[2]", decimals)
    assert -180 <= lon <= 180, f"{where}: longitude {lon} outside -180..180"
    assert -90 <= lat <= 90, f"{where}: latitude {lat} outside -90..90 (lon/lat swapped?)"
    return lon, lat


def _positions(value: Any, where: str, decimals: int, minimum: int) -> list[tuple[float, float]]:
    assert isinstance(value, list), f"{where}: expected an array of positions"
    assert len(value) >= minimum, f"{where}: {len(value)} positions, at least {minimum} needed"
    return [_position(p, f"{where}[{i}]", decimals) for i, p in enumerate(value)]


def signed_area(ring: list[tuple[float, float]]) -> float:
    """Twice the planar signed area (shoelace): positive when counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))


def _polygon(value: Any, where: str, decimals: int) -> None:
    assert isinstance(value, list) and value, f"{where}: a polygon is a non-empty array of rings"
    for i, raw in enumerate(value):
        at = f"{where}[{i}]"
        ring = _positions(raw, at, decimals, 4)
        assert ring[0] == ring[-1], f"{at}: ring not closed (first {ring[0]} != last {ring[-1]})"
        area = signed_area(ring)
        if i == 0:
            assert area > 0, f"{at}: exterior ring is not counter-clockwise (signed area {area})"
        else:
            assert area < 0, f"{at}: hole is not clockwise (signed area {area})"


def check_geometry(geom: Any, where: str = "geometry", decimals: int = 6) -> None:
    g = _object(geom, "Geometry", where)
    kind = g.get("type")
    assert kind in GEOMETRY_TYPES, f"{where}: unknown geometry type {kind!r}"
    if kind == "GeometryCollection":
        assert isinstance(g.get("geometries"), list), f"{where}: 'geometries' must be an array"
        assert "coordinates" not in g, f"{where}: a GeometryCollection has no 'coordinates'"
        for i, member in enumerate(g["geometries"]):
            check_geometry(member, f"{where}.geometries[{i}]", decimals)
        return
    assert "geometries" not in g, f"{where}: a {kind} has no 'geometries'"
    coords = g.get("coordinates")
    at = f"{where}.coordinates"
    assert isinstance(coords, list), f"{at}: must be an array"
    if kind == "Point":
        _position(coords, at, decimals)
    elif kind == "MultiPoint":
        _positions(coords, at, decimals, 0)
    elif kind == "LineString":
        _positions(coords, at, decimals, 2)
    elif kind == "MultiLineString":
        for i, line in enumerate(coords):
            _positions(line, f"{at}[{i}]", decimals, 2)
    elif kind == "Polygon":
        _polygon(coords, at, decimals)
    else:
        for i, poly in enumerate(coords):
            _polygon(poly, f"{at}[{i}]", decimals)


def check_feature(feature: Any, where: str = "feature", decimals: int = 6) -> None:
    f = _object(feature, "Feature", where)
    assert f.get("type") == "Feature", f"{where}: type must be 'Feature', got {f.get('type')!r}"
    assert "geometry" in f, f"{where}: a Feature must have a 'geometry' member (null allowed)"
    assert "properties" in f, f"{where}: a Feature must have a 'properties' member (null allowed)"
    assert f["properties"] is None or isinstance(f["properties"], dict), \
        f"{where}.properties: must be an object or null"
    if "id" in f:
        assert isinstance(f["id"], str | int | float) and not isinstance(f["id"], bool), \
            f"{where}.id: must be a string or a number"
    if f["geometry"] is not None:
        check_geometry(f["geometry"], f"{where}.geometry", decimals)


def check_feature_collection(doc: Any, decimals: int = 6) -> None:
    fc = _object(doc, "FeatureCollection", "collection")
    assert fc.get("type") == "FeatureCollection", \
        f"collection: type must be 'FeatureCollection', got {fc.get('type')!r}"
    assert isinstance(fc.get("features"), list), "collection: 'features' must be an array"
    for i, feature in enumerate(fc["features"]):
        check_feature(feature, f"features[{i}]", decimals)
