"""The query parameters of OGC API – Features, checked: a bad one is a coded 400 that says what
would be right. `datetime` is an interval of WIB days: it selects the period of the figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from starlette.datastructures import QueryParams

from geo.errors import BadInput
from geo.features import Box
from geo.filters import ActivityFilter
from geo.periods import WIB, Period, make_period

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_DAYS = 30
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
FORMATS = ("json", "html")
# Accepted on every /ogc path and carried by every link: GDAL and QGIS repeat the query of the
# connection URL on each request, so `.../ogc?datetime=2026-10-01/2026-10-31&key=...` is a
# connection to October's figures.
CARRIED = ("datetime", "unitCode", "category", "key")
ITEM_PARAMS = ("f", "bbox", "bbox-crs", "limit", "offset", "properties", *CARRIED)
FEATURE_PARAMS = ("f", "properties", *CARRIED)
OTHER_PARAMS = ("f", *CARRIED)


@dataclass(frozen=True)
class Items:
    bbox: Box | None
    period: Period
    limit: int
    offset: int
    properties: tuple[str, ...] | None
    filter: ActivityFilter


def one(query: QueryParams, name: str) -> str | None:
    """The parameter's value; repeated with the same value is once (GDAL adds the connection
    URL's query to links that already carry it)."""
    values = list(dict.fromkeys(query.getlist(name)))
    if len(values) > 1:
        raise BadInput(f"query parameter {name!r} is given {len(values)} times; give it once")
    return values[0] if values else None


def check_known(query: QueryParams, known: tuple[str, ...]) -> None:
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise BadInput(f"unknown query parameter {unknown[0]!r:.40}; known here: "
                       f"{', '.join(known)}")


def wants(query: QueryParams, accept: str | None) -> str:
    """json or html: `f` decides, else a browser's Accept header asks for HTML."""
    f = one(query, "f")
    if f is not None:
        if f not in FORMATS:
            raise BadInput(f"'f' must be json or html, got {f!r:.20}")
        return f
    return "html" if accept and "text/html" in accept else "json"


def parse_bbox(raw: str | None, crs: str | None) -> Box | None:
    if crs is not None and crs != CRS84:
        raise BadInput(f"'bbox-crs' must be {CRS84} (lon/lat, WGS84), got {crs!r:.60}")
    if raw is None:
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise BadInput(f"'bbox' must be four numbers minLon,minLat,maxLon,maxLat, got "
                       f"{raw!r:.60}") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise BadInput(f"'bbox' must be four finite numbers minLon,minLat,maxLon,maxLat "
                       f"(no heights), got {raw!r:.60}")
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise BadInput("'bbox': longitudes lie in -180..180 and latitudes in -90..90")
    if x0 > x1 or y0 > y1:
        raise BadInput("'bbox': the minimum exceeds the maximum (a bbox across the "
                       "antimeridian is not served)")
    return x0, y0, x1, y1


def _day(raw: str) -> date:
    """A date, or a date-time taken as its WIB day."""
    try:
        if "T" in raw or "t" in raw:
            moment = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError
            return moment.astimezone(WIB).date()
        return date.fromisoformat(raw)
    except ValueError:
        raise BadInput(f"'datetime': {raw!r:.40} is neither a date like 2026-11-01 nor an RFC "
                       "3339 date-time like 2026-11-01T00:00:00+07:00") from None


def parse_datetime(raw: str | None, today: date, max_days: int) -> Period:
    """A day, or an interval `start/end` with `..` (or nothing) for an open end; open or
    absent, the period is the 30 days ending on its end (today by default)."""
    if raw is None:
        return make_period(today - timedelta(days=DEFAULT_DAYS - 1), today, max_days)
    parts = raw.split("/")
    if len(parts) > 2:
        raise BadInput(f"'datetime' must be a day or an interval start/end, got {raw!r:.60}")
    if len(parts) == 1:
        d = _day(raw)
        return make_period(d, d, max_days)
    start = None if parts[0] in ("", "..") else _day(parts[0])
    end = None if parts[1] in ("", "..") else _day(parts[1])
    if end is None:
        end = today if start is None or start <= today else start
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    return make_period(start, end, max_days)


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadInput(f"'limit' must be an integer in 1..{MAX_LIMIT}, got {raw!r:.30}")
    return int(raw)


def parse_offset(raw: str | None) -> int:
    if raw is None:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadInput(f"'offset' must be a non-negative integer, got {raw!r:.30}")
    return int(raw)


def parse_properties(raw: str | None, known: tuple[str, ...]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadInput(f"'properties': unknown property {unknown[0]!r:.40}; this collection "
                       f"has {', '.join(known)}")
    return names


def parse_items(query: QueryParams, known: tuple[str, ...], properties: tuple[str, ...],
                today: date, max_days: int) -> Items:
    """The parameters of /items (`known` those allowed here), checked."""
    check_known(query, known)
    return Items(
        bbox=parse_bbox(one(query, "bbox"), one(query, "bbox-crs")),
        period=parse_datetime(one(query, "datetime"), today, max_days),
        limit=parse_limit(one(query, "limit")),
        offset=parse_offset(one(query, "offset")),
        properties=parse_properties(one(query, "properties"), properties),
        filter=ActivityFilter(unit_code=one(query, "unitCode"), category=one(query, "category")))
