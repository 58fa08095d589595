"""A real client: GDAL's OGC API Features driver (Debian `gdal-bin`) against a live server,
authenticated by an API key in the connection URL, as a QGIS user would connect."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from geo import api_keys
from geo.db import connect
from tests.conftest import settings_for
from tests.live import live_server
from tests.seed import K1
from tests.seed import OCTOBER as EXPECTED

OCT = "2026-10-01/2026-10-31"
FIGURES = ("activities", "distinctStaff", "citizensServed", "outcomesMet")
COVERAGE = """query($l: AreaLevel!) {
    coverage(level: $l, period: {from: "2026-10-01", to: "2026-10-31"}) {
        area { code } activities distinctStaff citizensServed outcomesMet
        attainment { indicator actual } } }"""


@pytest.fixture(scope="module")
async def key(module_db_url: str) -> AsyncIterator[str]:
    """A supervisor key for the whole city's unit: it may read records."""
    async with connect(module_db_url) as conn:
        secret, _ = await api_keys.create(conn, name="GDAL tests", role="supervisor",
                                          unit="PEMKOT")
        await conn.commit()
    yield secret


@pytest.fixture(scope="module")
def base(module_db_url: str) -> Iterator[str]:
    with live_server(settings_for(module_db_url)) as url:
        yield url


def gdal(*args: str, trace: list[str] | None = None) -> str:
    """GDAL's standard output; `trace` receives the paths of the requests it sent."""
    env = {**os.environ, "CPL_CURL_VERBOSE": "YES"} if trace is not None else None
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr, done.stderr
    if trace is not None:
        trace += [line.split()[2] for line in done.stderr.splitlines()
                  if line.startswith("> GET ")]
    return done.stdout


def source(base: str, key: str) -> str:
    return f"OAPIF:{base}/ogc?datetime={OCT}&key={key}"


def graphql(base: str, key: str, level: str) -> dict[str, dict[str, Any]]:
    r = httpx.post(f"{base}/graphql", json={"query": COVERAGE, "variables": {"l": level}},
                   headers={"X-API-Key": key}, timeout=60)
    body = r.json()
    assert "errors" not in body, body
    return {row["area"]["code"]: row for row in body["data"]["coverage"]}


def as_geojson(src: str, layer: str, *options: str,
               trace: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(gdal("ogr2ogr", "-f", "GeoJSON", "/vsistdout/", src, layer,
                                          *options, trace=trace))
    return out


async def test_gdal_lists_the_collections(base: str, key: str) -> None:
    out = gdal("ogrinfo", "-ro", "-q", source(base, key))
    layers = [line.split(":")[1].split("(")[0].strip() for line in out.splitlines()
              if line[:1].isdigit()]
    assert layers == ["kelurahan", "kecamatan", "kota", "activities"]


async def test_gdal_reads_every_kelurahan_with_the_graphql_figures(base: str, key: str) -> None:
    doc = as_geojson(source(base, key), "kelurahan")
    want = graphql(base, key, "KELURAHAN")
    assert len(doc["features"]) == len(want) == 153
    for f in doc["features"]:
        p = f["properties"]
        g = want[p["code"]]
        assert tuple(p[n] for n in FIGURES) == tuple(g[n] for n in FIGURES)
        assert [(a["indicator"], a["actual"]) for a in p["attainment"]] == \
            [(a["indicator"], a["actual"]) for a in g["attainment"]]
        assert f["geometry"]["type"] == "MultiPolygon"
    k1 = next(f["properties"] for f in doc["features"] if f["properties"]["code"] == K1)
    assert k1["activities"] == EXPECTED[K1][0]


async def test_gdal_pages_through_activities(base: str, key: str) -> None:
    sent: list[str] = []
    doc = as_geojson(source(base, key), "activities", "-oo", "PAGE_SIZE=2", trace=sent)
    ids = [f["properties"]["id"] for f in doc["features"]]
    assert len(ids) == len(set(ids)) == 7       # October's activities, 2 a page: 4 pages
    offsets = [parse_qs(urlsplit(p).query).get("offset") for p in sent if "/items" in p]
    assert [o[0] for o in offsets if o] == ["2", "4", "6"]     # followed the `next` links
    started = [f["properties"]["startedAt"] for f in doc["features"]]
    assert started == sorted(started, reverse=True)


async def test_gdal_converts_kecamatan_to_a_geopackage(base: str, key: str,
                                                      tmp_path: Path) -> None:
    gpkg = tmp_path / "kecamatan.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(gpkg), source(base, key), "kecamatan")
    with sqlite3.connect(gpkg) as db:
        rows = db.execute(f"SELECT code, {', '.join(FIGURES)} FROM kecamatan "
                          "ORDER BY code").fetchall()
        (srs,) = db.execute("SELECT srs_id FROM gpkg_geometry_columns "
                            "WHERE table_name = 'kecamatan'").fetchone()
    want = graphql(base, key, "KECAMATAN")
    assert len(rows) == len(want) == 31
    assert {r[0]: tuple(int(v) for v in r[1:]) for r in rows} == \
        {c: tuple(g[n] for n in FIGURES) for c, g in want.items()}
    assert srs == 4326
