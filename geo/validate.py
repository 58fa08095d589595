"""Checks of incoming GeoJSON geometry (RFC 7946, WGS84 lon/lat), before anything is written.

Structure is checked on the raw JSON, so that a client learns *which* position is wrong;
validity (self-intersection and the like) is then checked with shapely.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidGeometry

# Indonesia, generously: a position outside it is far from any Surabaya service, and a position
# whose swap falls inside it was almost certainly given as [lat, lon].
SERVICE_EXTENT = (94.0, -12.0, 142.0, 7.0)

GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
MAX_VERTICES_DEFAULT = 10_000


_short = reprlib.Repr()
_short.maxlevel, _short.maxlist, _short.maxdict, _short.maxstring = 3, 4, 4, 40


def _show(value: Any) -> str:
    """A client's value in a message, short whatever its size or depth (repr() recurses: a
    position nested 1,000 lists deep raised RecursionError)."""
    return _short.repr(value)[:80]


def _in_extent(lon: float, lat: float) -> bool:
    x0, y0, x1, y1 = SERVICE_EXTENT
    return x0 <= lon <= x1 and y0 <= lat <= y1


def _coordinate(v: Any, pos: Any, where: str) -> float:
    """A finite float; an integer literal too large for a float (400 digits) is not one."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InvalidGeometry(f"{where}: coordinates must be numbers, got {_show(pos)}")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise InvalidGeometry(f"{where}: coordinates must be finite, got {_show(pos)}")
    return f


def check_position(pos: Any, where: str) -> tuple[float, float]:
    """A [lon, lat] pair: numbers, finite, 2D, in range, and not swapped."""
    if not isinstance(pos, list | tuple) or len(pos) < 2:
        raise InvalidGeometry(
            f"{where}: a position must be [longitude, latitude], got {_show(pos)}")
    if len(pos) > 2:
        raise InvalidGeometry(
            f"{where}: 3D position {_show(list(pos))}; give [longitude, latitude] only")
    lon, lat = (_coordinate(v, pos, where) for v in pos)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        hint = " It looks like [latitude, longitude]: swap them." if _in_extent(lat, lon) else (
            " It is not WGS84 longitude/latitude (EPSG:4326); reproject first."
            if abs(lon) > 180 or abs(lat) > 180 else "")
        raise InvalidGeometry(
            f"{where}: [{lon}, {lat}] is out of range "
            f"(longitude -180..180, latitude -90..90).{hint}"
        )
    if not _in_extent(lon, lat):
        hint = (" It looks like [latitude, longitude]: swap them." if _in_extent(lat, lon)
                else "")
        raise InvalidGeometry(
            f"{where}: [{lon}, {lat}] lies outside the service extent "
            f"(lon {SERVICE_EXTENT[0]}..{SERVICE_EXTENT[2]}, "
            f"lat {SERVICE_EXTENT[1]}..{SERVICE_EXTENT[3]}).{hint}"
        )
    return lon, lat


def _check_ring(ring: Any, where: str) -> int:
    if not isinstance(ring, list):
        raise InvalidGeometry(f"{where}: a ring must be an array of positions")
    if len(ring) < 4:
        raise InvalidGeometry(f"{where}: a ring needs at least 4 positions, got {len(ring)}")
    pts = [check_position(p, f"{where} position {i}") for i, p in enumerate(ring)]
    if pts[0] != pts[-1]:
        raise InvalidGeometry(f"{where}: ring is not closed (first position {list(pts[0])} "
                              f"differs from last {list(pts[-1])})")
    return len(pts)


def _check_polygon(coords: Any, where: str) -> int:
    if not isinstance(coords, list) or not coords:
        raise InvalidGeometry(f"{where}: a Polygon needs an array of rings")
    return sum(_check_ring(r, f"{where} ring {i}") for i, r in enumerate(coords))


def _count_and_check(geom: dict[str, Any], where: str) -> int:
    kind, coords = geom["type"], geom.get("coordinates")
    if coords is None:
        raise InvalidGeometry(f"{where}: {kind} has no 'coordinates'")
    if kind == "Point":
        check_position(coords, where)
        return 1
    if kind == "Polygon":
        return _check_polygon(coords, where)
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise InvalidGeometry(f"{where}: a MultiPolygon needs an array of polygons")
        return sum(_check_polygon(p, f"{where} polygon {i}") for i, p in enumerate(coords))
    if not isinstance(coords, list) or not coords:
        raise InvalidGeometry(f"{where}: {kind} needs a non-empty array of coordinates")
    if kind not in {"MultiPoint", "LineString"} and not all(isinstance(c, list) for c in coords):
        raise InvalidGeometry(f"{where}: a {kind} needs an array of lines")
    flat: list[Any] = (coords if kind in {"MultiPoint", "LineString"}
                       else [p for line in coords for p in line])
    for i, p in enumerate(flat):
        check_position(p, f"{where} position {i}")
    return len(flat)


def _kind(obj: Any, allowed: Sequence[str], where: str) -> str:
    """The GeoJSON type of `obj`, one of `allowed`, or the error that says what it is instead."""
    if not isinstance(obj, dict):
        raise InvalidGeometry(
            f"{where}: expected a GeoJSON geometry object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind is None:
        raise InvalidGeometry(f"{where}: GeoJSON object has no 'type'")
    if not isinstance(kind, str) or kind not in GEOMETRY_TYPES:
        raise InvalidGeometry(f"{where}: unknown or unsupported GeoJSON type {_show(kind)}")
    if kind not in allowed:
        raise InvalidGeometry(f"{where}: expected {' or '.join(allowed)}, got {kind}")
    return kind


def parse_point(obj: Any, *, where: str = "geometry") -> tuple[float, float]:
    """A GeoJSON Point as (lon, lat), refused exactly as `parse_geometry(obj, ("Point",))`
    refuses it, without building a shapely geometry: a checked position is always a valid,
    non-empty point, and a batch of 500 records paid for 500 geometries it never used."""
    _kind(obj, ("Point",), where)
    coords = obj.get("coordinates")
    if coords is None:
        raise InvalidGeometry(f"{where}: Point has no 'coordinates'")
    return check_position(coords, where)


def parse_geometry(
    obj: Any,
    allowed: Sequence[str],
    *,
    where: str = "geometry",
    max_vertices: int = MAX_VERTICES_DEFAULT,
    limit_name: str = "max_vertices",
    repair: bool = False,
) -> tuple[BaseGeometry, str | None]:
    """Check a GeoJSON geometry object and return it as shapely, with a repair note if any.

    With `repair`, an invalid polygon is fixed with `make_valid` (keeping only its polygonal
    part) and the note says so; without it, an invalid polygon is refused.
    """
    kind = _kind(obj, allowed, where)
    n = _count_and_check(obj, where)
    if n > max_vertices:
        raise InvalidGeometry(f"{where}: {n} positions is more than the limit of {max_vertices} "
                              f"({limit_name})", code="LIMIT_EXCEEDED")
    geom = shape(obj)
    note = None
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if not repair:
            raise InvalidGeometry(f"{where}: invalid {kind}: {reason}")
        fixed = shapely.make_valid(geom)
        polys = [g for g in getattr(fixed, "geoms", [fixed])
                 if g.geom_type in {"Polygon", "MultiPolygon"}]
        fixed = shapely.union_all(polys) if polys else fixed
        if fixed.is_empty or fixed.geom_type not in {"Polygon", "MultiPolygon"}:
            raise InvalidGeometry(f"{where}: invalid {kind} ({reason}) that cannot be repaired")
        geom, note = fixed, f"{where}: repaired invalid {kind} ({reason})"
    if geom.is_empty:
        raise InvalidGeometry(f"{where}: geometry is empty")
    return geom, note


def as_multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    assert geom.geom_type == "MultiPolygon"
    return geom  # type: ignore[return-value]
