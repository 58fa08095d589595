"""API keys: made, listed and revoked from the command line; read-only, scoped to their role,
unit and areas; logged like a token; refused at once when revoked or expired; never logged
in a URL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import api_keys
from graph.api_keys import ScrubKeys
from tests.conftest import Api
from tests.payloads import OCTOBER, RECORD_ONE, activity
from tests.seed import K1, K3, KEC2, S1, S2, aid
from tests.test_cli import jangkau
from tests.test_tiles import tile_of, url
from tests.tokens import bearer, token

ACTIVITIES = """query($f: ActivityFilter) { activities(filter: $f, first: 50) {
    edges { node { id staff { id } } } } }"""
COVERAGE = """query($f: ActivityFilter) {
    coverage(level: KELURAHAN, period: {from: "2026-10-01", to: "2026-10-31"}, filter: $f) {
        area { code } activities } }"""
LOG = "{ accessLog(first: 50) { edges { node { actorSub actorRole subject { id } what } } } }"


async def make(conn: AsyncConnection, role: str = "supervisor", unit: str = "DINKES",
               **kw: Any) -> tuple[str, api_keys.KeyRow]:
    made = await api_keys.create(conn, name=f"{role} {unit}", role=role, unit=unit, **kw)
    await conn.commit()
    return made


@pytest.fixture
async def bare(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The `api` fixture's app, asked without a token."""
    app = api.http.app  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://jangkau.test") as client:
        yield client


async def post(client: httpx.AsyncClient, key: str, query: str,
               variables: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables or {}},
                             headers={"X-API-Key": key})


async def test_the_command_line_creates_lists_and_revokes(db_url: str, tmp_path: Path) -> None:
    made = await jangkau(db_url, tmp_path, "keys", "create", "--role", "planner", "--unit",
                         "PEMKOT", "--name", "QGIS Bappeda", "--expires", "2027-06-30",
                         "--areas", KEC2)
    assert made.code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("jk_") and len(key) > 40
    listed = await jangkau(db_url, tmp_path, "keys", "list")
    assert "QGIS Bappeda" in listed.output and key[:10] in listed.output
    assert key not in listed.output and "until 2027-06-30" in listed.output
    revoked = await jangkau(db_url, tmp_path, "keys", "revoke", "QGIS Bappeda")
    assert revoked.code == 0 and "revoked" in revoked.output, revoked.output
    bad = await jangkau(db_url, tmp_path, "keys", "create", "--role", "admin", "--unit",
                        "PEMKOT", "--name", "x")
    assert bad.code != 0 and "planner, supervisor" in bad.output


async def test_only_the_hash_is_stored(conn: AsyncConnection) -> None:
    key, row = await make(conn)
    stored = (await conn.execute(text("SELECT key_hash, k::text AS whole FROM api_keys k"))).one()
    assert stored.key_hash == api_keys.digest(key)
    assert key[10:] not in stored.whole      # nothing but the readable prefix is kept
    assert row.prefix == key[:10]


async def test_a_supervisor_key_reads_its_units_records_and_is_logged(
        api: Api, bare: httpx.AsyncClient, conn: AsyncConnection) -> None:
    key, row = await make(conn, unit="DINKES")
    r = await post(bare, key, ACTIVITIES)
    staff = {e["node"]["staff"]["id"] for e in r.json()["data"]["activities"]["edges"]}
    assert staff == {str(S1), str(S2)}           # not S3 of KEC-357801
    outside = await post(bare, key, ACTIVITIES, {"f": {"unitCode": "KEC-357801"}})
    assert outside.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    log = (await api.data(LOG))["accessLog"]["edges"]
    mine = {(e["node"]["actorRole"], e["node"]["subject"]["id"]) for e in log
            if e["node"]["actorSub"] == f"key:{row.id}"}
    assert mine == {("supervisor", str(S1)), ("supervisor", str(S2))}


async def test_a_key_is_read_only(api: Api, bare: httpx.AsyncClient,
                                  conn: AsyncConnection) -> None:
    key, _ = await make(conn, unit="DINKES")
    r = await post(bare, key, RECORD_ONE, {"i": activity(1, staffId=str(S1))})
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "read-only" in r.json()["errors"][0]["message"]
    count = await api.data(ACTIVITIES)
    assert len(count["activities"]["edges"]) == 8          # nothing was recorded


async def test_a_planner_key_reads_figures_never_records(bare: httpx.AsyncClient,
                                                         conn: AsyncConnection) -> None:
    key, _ = await make(conn, role="planner", unit="PEMKOT")
    records = await post(bare, key, ACTIVITIES)
    assert records.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    figures = (await post(bare, key, COVERAGE)).json()["data"]["coverage"]
    assert next(r for r in figures if r["area"]["code"] == K1)["activities"] == 3
    ogc = await bare.get("/ogc/collections/activities/items", params={"key": key})
    assert (ogc.status_code, ogc.json()["code"]) == (403, "FORBIDDEN")


async def test_a_key_with_areas_sees_only_those_areas(bare: httpx.AsyncClient,
                                                      conn: AsyncConnection) -> None:
    key, _ = await make(conn, unit="PEMKOT", areas=[KEC2])
    r = await post(bare, key, ACTIVITIES)
    assert [e["node"]["id"] for e in r.json()["data"]["activities"]["edges"]] == [str(aid(6))]
    figures = {x["area"]["code"]: x["activities"]
               for x in (await post(bare, key, COVERAGE)).json()["data"]["coverage"]}
    assert (figures[K1], figures[K3]) == (0, 1)
    ogc = (await bare.get("/ogc/collections/kelurahan/items",
                          params={"key": key, "datetime": "2026-10-01/2026-10-31"})).json()
    codes = {f["id"] for f in ogc["features"]}
    assert K3 in codes and K1 not in codes
    assert all(c.startswith(KEC2 + ".") for c in codes)
    city = (await bare.get("/ogc/collections/kota/items/35.78",
                           params={"key": key, "datetime": "2026-10-01/2026-10-31"})).json()
    assert city["properties"]["activities"] == 1         # its areas' activities only


async def test_revoked_and_expired_keys_are_refused_at_once(bare: httpx.AsyncClient,
                                                            conn: AsyncConnection) -> None:
    key, row = await make(conn)
    assert (await post(bare, key, COVERAGE)).status_code == 200
    await api_keys.revoke(conn, str(row.id))
    await conn.commit()
    refused = await post(bare, key, COVERAGE)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["errors"][0]["message"]
    old, _ = await make(conn, expires=date.today() - timedelta(days=2))
    expired = await bare.get("/ogc/collections/kota/items", params={"key": old})
    assert (expired.status_code, expired.json()["code"]) == (401, "UNAUTHENTICATED")
    assert "expired" in expired.json()["description"]
    unknown = await post(bare, "jk_not-a-key", COVERAGE)
    assert unknown.status_code == 401


async def test_a_key_and_a_token_together_are_refused(bare: httpx.AsyncClient,
                                                     conn: AsyncConnection) -> None:
    key, _ = await make(conn)
    r = await bare.post("/graphql", json={"query": COVERAGE},
                            headers={"X-API-Key": key, **bearer(token("admin"))})
    assert r.status_code == 401


async def test_the_key_parameter_is_for_tiles_and_ogc_only(bare: httpx.AsyncClient,
                                                           conn: AsyncConnection) -> None:
    key, _ = await make(conn, unit="DINKES")
    graphql = await bare.get("/graphql", params={"query": "{ activities(first: 1) "
                                                 "{ totalCount } }", "key": key})
    assert graphql.status_code == 401            # not read there: anonymous
    tile = await bare.get(url("activities", tile_of(K1, 14)), params={**OCTOBER, "key": key})
    assert tile.status_code == 200
    assert tile.headers["cache-control"].startswith("private")
    header = await bare.get(url("activities", tile_of(K1, 14)), params=OCTOBER,
                            headers={"X-API-Key": key})
    assert header.content == tile.content


async def test_tilejson_tile_urls_carry_the_key(bare: httpx.AsyncClient,
                                                conn: AsyncConnection) -> None:
    key, _ = await make(conn, unit="DINKES")
    z, x, y = tile_of(K1, 14)
    for params, headers in (({"key": key}, {}), ({}, {"X-API-Key": key})):
        doc = (await bare.get("/tiles/activities.json", params=params, headers=headers)).json()
        tiles = urlsplit(doc["tiles"][0])
        assert parse_qs(tiles.query)["key"] == [key]
        assert tiles.path == "/tiles/activities/{z}/{x}/{y}.mvt"
        follow = await bare.get(doc["tiles"][0].format(z=z, x=x, y=y))
        assert follow.status_code in (200, 204)
    assert (await bare.get("/tiles/activities.json")).status_code == 401


def test_keys_in_logged_urls_are_masked() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1", "GET",
                               "/ogc/collections?datetime=2026-10-01&key=jk_secret123&f=json",
                               "1.1", 200), None)
    assert ScrubKeys().filter(record)
    line = record.getMessage()
    assert "jk_secret123" not in line and "key=***&f=json" in line
