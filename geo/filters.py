"""Activity filters turned into SQL: one WHERE clause with bound parameters, never string-built
values. Spatial filters use the GiST index on activities.geom; distances are metres on the
spheroid (geography)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.codes import MATCH, unknown
from geo.errors import BadInput
from geo.periods import Period
from geo.validate import check_position

MAX_RADIUS_M = 50_000.0


@dataclass(frozen=True)
class Near:
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True)
class ActivityFilter:
    period: Period | None = None
    area_code: str | None = None
    within: BaseGeometry | None = None
    bbox: tuple[float, float, float, float] | None = None
    near: Near | None = None
    unit_code: str | None = None
    staff_id: uuid.UUID | None = None
    category: str | None = None
    outcome_met: bool | None = None
    staff_ids: frozenset[uuid.UUID] | None = field(default=None)  # set by authorisation only
    # Attainment lists the indicators owned by these units only (authorisation sets it for a
    # supervisor's own units; `unit_code` narrows it further): see geo.coverage.
    indicator_units: frozenset[int] | None = field(default=None)
    area_scope: frozenset[str] | None = None  # set by authorisation only: an API key's areas
    include_flagged: bool = False   # count activities whose flags await or failed review
    review: frozenset[str] | None = None  # flagged activities in these states only (review)
    # The codes above as ids, resolved once a request (graph.permissions, memoised on the
    # context); build_where looks them up itself when absent or stale (`Ids.fits`).
    ids: Ids | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Ids:
    """An ActivityFilter's codes resolved to what its SQL needs, by one statement (`resolve`):
    the area's id and level, the unit's subtree, the category as stored. `codes` are the codes
    they were resolved from, so a filter whose codes changed since is resolved again."""

    codes: tuple[str | None, str | None, str | None]    # area, unit, category as typed
    area: tuple[int, str] | None = None                 # id, level
    units: tuple[int, ...] | None = None
    category: str | None = None

    def fits(self, f: ActivityFilter) -> bool:
        return self.codes == codes_of(f)


def codes_of(f: ActivityFilter) -> tuple[str | None, str | None, str | None]:
    return f.area_code, f.unit_code, f.category


def parse_bbox(values: list[float], where: str = "bbox") -> tuple[float, float, float, float]:
    if len(values) != 4:
        raise BadInput(f"{where}: expected [minLon, minLat, maxLon, maxLat], "
                       f"got {len(values)} numbers")
    x0, y0, x1, y1 = (float(v) for v in values)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise BadInput(f"{where}: numbers must be finite")
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise BadInput(f"{where}: longitudes must lie in -180..180 and latitudes in -90..90")
    if x0 > x1 or y0 > y1:
        raise BadInput(f"{where}: min must not exceed max ([minLon, minLat, maxLon, maxLat])")
    return x0, y0, x1, y1


def parse_near(lon: float, lat: float, radius: float) -> Near:
    check_position([lon, lat], "near")
    if not math.isfinite(radius) or radius < 0:
        raise BadInput(f"near: radiusMeters must be a non-negative number, got {radius}")
    if radius > MAX_RADIUS_M:
        raise BadInput(f"near: radiusMeters {radius} exceeds the maximum of {MAX_RADIUS_M:.0f}",
                       code="LIMIT_EXCEEDED")
    return Near(lon, lat, radius)


def degrees_for(radius_m: float, lat: float) -> tuple[float, float]:
    """A lon/lat half-width that surely contains a circle of `radius_m` (for the index)."""
    dlat = radius_m / 110_574.0 * 1.01 + 1e-9
    dlon = radius_m / (111_320.0 * max(math.cos(math.radians(abs(lat) + dlat)), 1e-6)) * 1.01 + 1e-9
    return dlon, dlat


@dataclass
class Where:
    """SQL conditions on `activities a` and their parameters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    # A geometry among the conditions: its best plan depends on its value (a small box wants
    # the GiST index, a large one the time order), so it is planned for each request.
    spatial: bool = False

    def add(self, clause: str, **params: Any) -> None:
        self.clauses.append(clause)
        self.params.update(params)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


RESOLVE = f"""
    SELECT (SELECT ARRAY[id::text, level::text] FROM areas WHERE {MATCH.replace(':c', ':f_area')})
               AS area,
           (WITH RECURSIVE u AS (
                (SELECT id FROM units WHERE {MATCH.replace(':c', ':f_unit')})
                UNION ALL SELECT x.id FROM units x JOIN u ON x.parent_id = u.id
            ) SELECT array_agg(id ORDER BY id) FROM u) AS units,
           (SELECT code FROM service_categories WHERE {MATCH.replace(':c', ':f_cat')})
               AS category"""


async def resolve(conn: AsyncConnection, f: ActivityFilter) -> Ids:
    """`f`'s area, unit and category codes as ids, in one statement (none without codes);
    an unknown code is NOT_FOUND, the area's first, then the unit's, then the category's."""
    codes = codes_of(f)
    if codes == (None, None, None):
        return Ids(codes)
    row = (await conn.execute(text(RESOLVE), {"f_area": f.area_code, "f_unit": f.unit_code,
                                              "f_cat": f.category})).one()
    if f.area_code is not None and row.area is None:
        raise await unknown(conn, "areas", f.area_code)
    if f.unit_code is not None and row.units is None:
        raise await unknown(conn, "units", f.unit_code)
    if f.category is not None and row.category is None:
        raise await unknown(conn, "service_categories", f.category)
    area = (int(row.area[0]), str(row.area[1])) if row.area is not None else None
    units = tuple(row.units) if row.units is not None else None
    return Ids(codes, area, units, row.category)


async def ids_of(conn: AsyncConnection, f: ActivityFilter) -> Ids:
    """The ids `f` carries when they fit its codes, else resolved now."""
    return f.ids if f.ids is not None and f.ids.fits(f) else await resolve(conn, f)


async def build_where(
    conn: AsyncConnection, f: ActivityFilter | None, *, with_period: bool = True
) -> Where:
    """The WHERE clause for `f`; unknown codes are NOT_FOUND errors."""
    f = f or ActivityFilter()
    return where_of(f, await ids_of(conn, f), with_period=with_period)


def where_of(f: ActivityFilter, ids: Ids, *, with_period: bool = True) -> Where:
    """The WHERE clause for `f` with its codes resolved (`ids`): pure, no lookup.

    Unless `f` asks otherwise, only activities without flags or with accepted ones count.
    """
    w = Where()
    if f.review is not None:
        w.add("a.review <> 'NONE' AND a.review = ANY(:f_review)", f_review=sorted(f.review))
    elif not f.include_flagged:
        w.add("a.review IN ('NONE', 'ACCEPTED')")
    if f.period is not None and with_period:
        w.add("a.started_at >= :t0 AND a.started_at < :t1", t0=f.period.t0, t1=f.period.t1)
    if ids.area is not None:
        area_id, level = ids.area
        inside = "a.area_id IN (SELECT descendant_id FROM area_closure WHERE ancestor_id = :f_area)"
        # Activities outside every kelurahan still belong to the city as a whole.
        w.add(f"({inside} OR a.area_id IS NULL)" if level == "CITY" else inside, f_area=area_id)
    if f.area_scope is not None:
        w.add("a.area_id IN (SELECT c.descendant_id FROM area_closure c JOIN areas s"
              " ON s.id = c.ancestor_id WHERE s.code = ANY(:f_scope))",
              f_scope=sorted(f.area_scope))
    w.spatial = f.within is not None or f.bbox is not None or f.near is not None
    if f.within is not None:
        w.add("ST_Covers(ST_GeomFromWKB(:f_within, 4326), a.geom)",
              f_within=shapely.to_wkb(f.within))
    if f.bbox is not None:
        x0, y0, x1, y1 = f.bbox
        w.add("a.geom && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)",
              bx0=x0, by0=y0, bx1=x1, by1=y1)
    if f.near is not None:
        lon, lat, dlon, dlat = f.near.lon, f.near.lat, *degrees_for(f.near.radius_m, f.near.lat)
        # The envelope lets the GiST index pick candidates; ST_DWithin measures on the spheroid.
        w.add("a.geom && ST_MakeEnvelope(:nx0, :ny0, :nx1, :ny1, 4326)"
              " AND ST_DWithin(CAST(a.geom AS geography),"
              " CAST(ST_SetSRID(ST_MakePoint(:nlon, :nlat), 4326) AS geography), :nr)",
              nx0=lon - dlon, ny0=lat - dlat, nx1=lon + dlon, ny1=lat + dlat,
              nlon=lon, nlat=lat, nr=f.near.radius_m)
    if ids.units is not None:
        w.add("a.staff_id IN (SELECT id FROM staff WHERE unit_id = ANY(:f_units))",
              f_units=list(ids.units))
    if f.staff_id is not None:
        w.add("a.staff_id = :f_staff", f_staff=f.staff_id)
    if f.staff_ids is not None:
        w.add("a.staff_id = ANY(:f_staff_ids)", f_staff_ids=list(f.staff_ids))
    if ids.category is not None:
        w.add("a.category_code = :f_cat", f_cat=ids.category)
    if f.outcome_met is not None:
        w.add("a.outcome_met = :f_met", f_met=f.outcome_met)
    return w
