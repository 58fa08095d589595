"""The `jangkau` command as a user runs it: a subprocess with DATABASE_URL set."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jwt
from sqlalchemy import text

from geo import migrate
from geo.db import connect, schema_revision
from geo.demo import BOUNDARY_FILES
from tests.seed import NIPS, S1, S2, S3

JANGKAU = Path(sys.executable).parent / "jangkau"


@dataclass(frozen=True)
class Run:
    code: int
    output: str


DEV_SECRET = "a development secret of more than 32 bytes"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


async def jangkau(url: str, home: Path, *args: str) -> Run:
    env = {**os.environ, "DATABASE_URL": url, "JANGKAU_HOME": str(home), "COLUMNS": "250"}
    env.pop("JANGKAU_JWT_SECRET", None)
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
        # This month and three ahead (one more if a month began meanwhile), and the default.
        assert await conn.scalar(text(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'activities'::regclass")) >= 5
    assert "month(s) created, 3 kept ahead" in run.output
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


async def test_help_lists_up_first_and_no_types_beside_flags(empty_db_url: str,
                                                            tmp_path: Path) -> None:
    run = await jangkau(empty_db_url, tmp_path, "--help")
    assert run.code == 0, run.output
    assert "<bool>" not in run.output
    commands = run.output.split("Commands:")[1].split()
    assert commands[0] == "up"
    assert {"down", "staff", "units"} <= set(commands)
    upgrade = await jangkau(empty_db_url, tmp_path, "db", "upgrade", "--help")
    assert "Usage: jangkau db upgrade [OPTIONS] [REV]" in upgrade.output
    assert "<bool>" not in upgrade.output
    assert "[default: (yesterday)]" in (await jangkau(empty_db_url, tmp_path, "demo", "load",
                                                      "--help")).output


def claims(run: Run) -> dict[str, object]:
    assert run.code == 0, run.output
    (token,) = JWT.findall(run.output)
    decoded: dict[str, object] = jwt.decode(token, DEV_SECRET, algorithms=["HS256"])
    return decoded


async def test_token_for_a_supervisor_of_a_unit_with_the_development_secret(
        db_url: str, tmp_path: Path) -> None:
    (tmp_path / "dev-jwt-secret").write_text(DEV_SECRET + "\n")
    run = await jangkau(db_url, tmp_path, "token", "--role", "supervisor", "--unit", "dinkes")
    assert claims(run) | {"iat": 0, "nbf": 0, "exp": 0} == {
        "sub": str(S2), "role": "supervisor", "unit": "DINKES", "iat": 0, "nbf": 0, "exp": 0}
    assert f"a supervisor token for Budi Santoso of DINKES (staff id {S2})" in run.output
    assert f"development secret in {tmp_path / 'dev-jwt-secret'}" in run.output
    assert NIPS[S2] not in run.output


async def test_token_for_the_staff_member_with_a_nip(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "dev-jwt-secret").write_text(DEV_SECRET)
    run = await jangkau(db_url, tmp_path, "token", "--role", "staff", "--nip", NIPS[S1])
    assert (claims(run)["sub"], claims(run)["unit"]) == (str(S1), "DINKES")
    wrong = await jangkau(db_url, tmp_path, "token", "--role", "staff", "--nip", NIPS[S1],
                          "--unit", "KEC-357801")
    assert wrong.code == 2
    assert "belongs to DINKES, not KEC-357801" in wrong.output


async def test_token_without_any_secret_says_where_one_comes_from(db_url: str,
                                                                  tmp_path: Path) -> None:
    run = await jangkau(db_url, tmp_path, "token", "--role", "admin")
    assert run.code == 2
    assert "`make up` writes one" in run.output and "Traceback" not in run.output


async def test_staff_and_units_are_listed_without_nips(db_url: str, tmp_path: Path) -> None:
    staff = await jangkau(db_url, tmp_path, "staff", "list", "--unit", "DINKES")
    assert staff.code == 0, staff.output
    assert [line.split()[0] for line in staff.output.splitlines()[:-1]] == [str(S2), str(S1)]
    assert "Sri Wahyuni" in staff.output and str(S3) not in staff.output
    assert not any(nip in staff.output for nip in NIPS.values())
    everyone = await jangkau(db_url, tmp_path, "staff", "list")
    assert everyone.output.splitlines()[-1] == "3 staff"
    units = await jangkau(db_url, tmp_path, "units", "list")
    assert units.code == 0, units.output
    assert units.output.splitlines()[0].split() == ["DINKES", "OPD", "PEMKOT", "2", "Dinas",
                                                    "Kesehatan"]
    unknown = await jangkau(db_url, tmp_path, "staff", "list", "--unit", "DINKESS")
    assert (unknown.code, "did you mean DINKES?" in unknown.output) == (2, True)


async def test_swapped_coordinates_hint_survives_the_terminal(bare_db_url: str,
                                                              tmp_path: Path) -> None:
    ring = [[-7.30, 112.70], [-7.30, 112.71], [-7.29, 112.71], [-7.30, 112.70]]
    swapped = tmp_path / "swapped.geojson"
    swapped.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"kode": "35.78.01.1001", "nama": "Karang Pilang"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    run = await jangkau(bare_db_url, tmp_path, "areas", "import", str(swapped))
    assert run.code == 2
    assert "It looks like [latitude, longitude]: swap them." in run.output


async def test_down_leaves_a_database_url_alone(db_url: str, tmp_path: Path) -> None:
    run = await jangkau(db_url, tmp_path, "down")
    assert run.code == 0, run.output
    assert "the private database is not running" in run.output
    assert "DATABASE_URL is set" in run.output
    assert not (tmp_path / "pgdata").exists()
