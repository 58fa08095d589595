"""Importing administrative boundaries from GeoJSON FeatureCollections.

Expected feature properties (either spelling):
  code | kode                    Kemendagri code: `35.78`, `35.78.01`, `35.78.01.1001`
  name | nama                    the area's name
  level                           CITY|KOTA, KECAMATAN, KELURAHAN|DESA (any case); when absent,
                                  it follows from the code's shape
  parent | parent_code | parent_kode | kecamatan_kode
                                  the parent's code; when absent, the code minus its last part
A feature's `id` is used when it has no code property. Geometry: Polygon or MultiPolygon in
WGS84 lon/lat (RFC 7946). The whole import is checked before anything is written, and it is
written in one transaction: one bad feature refuses the file and changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import shapes
from geo.assign import reassign_activities
from geo.errors import BadInput, InvalidGeometry
from geo.plausibility import evaluate
from geo.validate import as_multipolygon, parse_geometry

LEVELS = ("CITY", "KECAMATAN", "KELURAHAN")
LEVEL_ALIASES = {"CITY": "CITY", "KOTA": "CITY", "KABUPATEN": "CITY", "KECAMATAN": "KECAMATAN",
                 "KELURAHAN": "KELURAHAN", "DESA": "KELURAHAN"}
CODE_RE = {
    "CITY": re.compile(r"^[0-9]{2}\.[0-9]{2}$"),
    "KECAMATAN": re.compile(r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}$"),
    "KELURAHAN": re.compile(r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$"),
}
CODE_EXAMPLE = {"CITY": "35.78", "KECAMATAN": "35.78.01", "KELURAHAN": "35.78.01.1001"}
ACCEPTED_CRS = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326",
                "urn:ogc:def:crs:EPSG::4326"}
MAX_VERTICES_PER_AREA = 200_000


@dataclass(frozen=True)
class AreaFeature:
    code: str
    name: str
    level: str
    parent_code: str | None
    wkb: bytes
    where: str          # file, index and code, for messages about this feature


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    reassigned_activities: int = 0
    repairs: list[str] = field(default_factory=list)


def level_of_code(code: str) -> str | None:
    return next((lvl for lvl, rx in CODE_RE.items() if rx.match(code)), None)


def _prop(props: dict[str, Any], *names: str) -> Any:
    return next((props[n] for n in names if props.get(n) not in (None, "")), None)


def _check_crs(doc: dict[str, Any], source: str) -> None:
    crs = doc.get("crs")
    if crs is None:
        return
    name = (crs.get("properties") or {}).get("name") if isinstance(crs, dict) else None
    if name not in ACCEPTED_CRS:
        raise InvalidGeometry(
            f"{source}: coordinate reference system {name!r} is not WGS84 lon/lat; "
            "reproject to EPSG:4326 (RFC 7946) first"
        )


def parse_feature(feat: Any, where: str) -> tuple[AreaFeature, str | None]:
    """One feature, checked; with the note of a geometry repair if one was needed."""
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise BadInput(f"{where}: not a GeoJSON Feature")
    props = feat.get("properties") or {}
    code = _prop(props, "code", "kode") or feat.get("id")
    if not isinstance(code, str):
        raise BadInput(f"{where}: no area code (property 'code' or 'kode')")
    where = f"{where} ({code})"
    raw_level = _prop(props, "level")
    level = LEVEL_ALIASES.get(str(raw_level).upper()) if raw_level else level_of_code(code)
    if level is None:
        raise BadInput(f"{where}: unknown level {raw_level!r}; use CITY, KECAMATAN or KELURAHAN")
    if not CODE_RE[level].match(code):
        raise BadInput(f"{where}: code {code!r} is not a {level} code (e.g. {CODE_EXAMPLE[level]})")
    name = _prop(props, "name", "nama")
    if not isinstance(name, str) or not name.strip():
        raise BadInput(f"{where}: no name (property 'name' or 'nama')")
    parent = _prop(props, "parent", "parent_code", "parent_kode")
    if parent is None and level == "KELURAHAN":
        parent = _prop(props, "kecamatan_kode")
    if parent is None and level != "CITY":
        parent = code.rsplit(".", 1)[0]
    if level == "CITY":
        parent = None
    elif not code.startswith(f"{parent}."):
        raise BadInput(f"{where}: parent {parent!r} does not contain code {code!r}")
    geom, note = parse_geometry(feat.get("geometry"), ("Polygon", "MultiPolygon"), where=where,
                                max_vertices=MAX_VERTICES_PER_AREA, repair=True)
    mp = as_multipolygon(geom)
    return AreaFeature(code, name.strip(), level, parent, shapely.to_wkb(mp), where), note


def read_features(paths: list[Path]) -> tuple[list[AreaFeature], list[str]]:
    """Every feature of every file, checked, parents before children."""
    features: dict[str, AreaFeature] = {}
    notes: list[str] = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadInput(f"{path}: cannot read GeoJSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise BadInput(f"{path}: expected a GeoJSON FeatureCollection")
        _check_crs(doc, str(path))
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise BadInput(f"{path}: 'features' must be an array")
        for i, feat in enumerate(feats):
            area, note = parse_feature(feat, f"{path.name} feature {i}")
            if area.code in features:
                raise BadInput(f"{area.where}: duplicate code (also {features[area.code].where})")
            features[area.code] = area
            if note:
                notes.append(note)
    ordered = sorted(features.values(), key=lambda a: (LEVELS.index(a.level), a.code))
    return ordered, notes


UPSERT = text("""
    INSERT INTO areas (code, name, level, parent_id, geom, area_m2, label_point)
    VALUES (:code, :name, :level, (SELECT id FROM areas WHERE code = :parent),
            ST_SetSRID(ST_GeomFromWKB(:wkb), 4326), 0, 'SRID=4326;POINT(0 0)')
    ON CONFLICT (code) DO UPDATE SET
        name = EXCLUDED.name, level = EXCLUDED.level, parent_id = EXCLUDED.parent_id,
        geom = EXCLUDED.geom
    RETURNING (xmax = 0) AS inserted
""")

REBUILD_CLOSURE = """
    INSERT INTO area_closure (ancestor_id, descendant_id, depth)
    WITH RECURSIVE c(ancestor_id, descendant_id, depth) AS (
        SELECT id, id, 0 FROM areas
        UNION ALL
        SELECT c.ancestor_id, a.id, c.depth + 1 FROM c JOIN areas a ON a.parent_id = c.descendant_id
    )
    SELECT ancestor_id, descendant_id, depth FROM c
"""


async def _check_parents(conn: AsyncConnection, areas: list[AreaFeature]) -> None:
    codes = {a.code: a.level for a in areas}
    missing = sorted({a.parent_code for a in areas if a.parent_code and a.parent_code not in codes})
    known: dict[str, str] = {}
    if missing:
        rows = await conn.execute(text("SELECT code, level FROM areas WHERE code = ANY(:c)"),
                                  {"c": missing})
        known = {r.code: r.level for r in rows}
    for a in areas:
        if a.parent_code is None:
            continue
        parent_level = codes.get(a.parent_code) or known.get(a.parent_code)
        if parent_level is None:
            raise BadInput(f"{a.where}: parent {a.parent_code} is neither in the files nor stored",
                           code="NOT_FOUND")
        if LEVELS.index(parent_level) != LEVELS.index(a.level) - 1:
            raise BadInput(f"{a.where}: a {a.level} cannot have the {parent_level} "
                           f"{a.parent_code} as parent")


async def import_areas(conn: AsyncConnection, paths: list[Path]) -> ImportReport:
    """Check every file, then upsert all areas, rebuild their zoom-band shapes and re-assign
    activities, in one transaction."""
    areas, notes = read_features(paths)
    report = ImportReport(repairs=notes)
    async with conn.begin():
        await _check_parents(conn, areas)
        for a in areas:
            inserted = await conn.scalar(UPSERT, {"code": a.code, "name": a.name, "level": a.level,
                                                  "parent": a.parent_code, "wkb": a.wkb})
            if inserted:
                report.inserted += 1
            else:
                report.updated += 1
        await conn.execute(text("DELETE FROM area_closure"))
        await conn.execute(text(REBUILD_CLOSURE))
        await conn.execute(text("SELECT area_neighbours_rebuild()"))   # for OUTSIDE_ASSIGNMENT
        await shapes.rebuild(conn)
        report.reassigned_activities = await reassign_activities(conn)
        if report.reassigned_activities:
            # A new outline can put an activity inside or outside its staff's assignment.
            await evaluate(conn, None)
    return report
