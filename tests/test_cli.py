"""The `jangkau` command as a user runs it: a subprocess with DATABASE_URL set."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from geo import migrate
from geo.db import connect, schema_revision
from geo.demo import BOUNDARY_FILES

JANGKAU = Path(sys.executable).parent / "jangkau"


@dataclass(frozen=True)
class Run:
    code: int
    output: str


async def jangkau(url: str, home: Path, *args: str) -> Run:
    env = {**os.environ, "DATABASE_URL": url, "JANGKAU_HOME": str(home), "COLUMNS": "250"}
    proc = await asyncio.create_subprocess_exec(
        str(JANGKAU), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode())


async def scalar(url: str, sql: str) -> object:
    async with connect(url) as conn:
        return await conn.scalar(text(sql))


async def test_db_upgrade_migrates_database_url(empty_db_url: str, tmp_path: Path) -> None:
    run = await jangkau(empty_db_url, tmp_path, "db", "upgrade")
    assert (run.code, "migrated" in run.output) == (0, True), run.output
    async with connect(empty_db_url) as conn:
        assert await schema_revision(conn) == migrate.head()
    assert not (tmp_path / "pgdata").exists()       # DATABASE_URL given: no private cluster


async def test_areas_import_of_the_real_files(empty_db_url: str, tmp_path: Path) -> None:
    run = await jangkau(empty_db_url, tmp_path, "areas", "import", *map(str, BOUNDARY_FILES))
    assert run.code == 0, run.output
    assert "185 new, 0 updated areas" in run.output
    assert await scalar(empty_db_url, "SELECT count(*) FROM areas") == 185


async def test_areas_import_of_a_bad_file_says_which_feature(bare_db_url: str,
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"kode": "35.78.01.1001", "nama": "Karang Pilang"},
        "geometry": {"type": "Point", "coordinates": [112.69, -7.34]}}]}))
    before = await scalar(bare_db_url, "SELECT max(updated_at) FROM areas")

    run = await jangkau(bare_db_url, tmp_path, "areas", "import", str(bad))

    assert run.code == 2, run.output
    assert "bad.geojson feature 0 (35.78.01.1001)" in run.output
    assert "expected Polygon or MultiPolygon, got Point" in run.output
    assert "Traceback" not in run.output
    assert await scalar(bare_db_url, "SELECT max(updated_at) FROM areas") == before


async def test_areas_import_of_a_missing_file_is_a_usage_error(bare_db_url: str,
                                                               tmp_path: Path) -> None:
    run = await jangkau(bare_db_url, tmp_path, "areas", "import", str(tmp_path / "nope.geojson"))
    assert run.code == 2, run.output
    assert "nope.geojson" in run.output and "Traceback" not in run.output


async def test_demo_load(bare_db_url: str, tmp_path: Path) -> None:
    run = await jangkau(bare_db_url, tmp_path, "demo", "load", "--activities", "500",
                        "--until", "2026-10-31")
    assert run.code == 0, run.output
    assert "loaded 500 activities" in run.output
    assert await scalar(bare_db_url, "SELECT count(*) FROM activities") == 500
    assert await scalar(bare_db_url, "SELECT count(*) FROM targets") > 0
