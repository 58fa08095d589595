"""Migrations from an empty database to head and back; the Core mirror in `geo/tables.py` agrees
with what they create; the constraints hold in the database, without Python."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from geoalchemy2 import Geometry
from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DATEMULTIRANGE, DATERANGE, JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from geo import migrate
from geo.db import connect, schema_revision
from geo.tables import metadata

# Tables that come with PostGIS or Alembic, not with Jangkau.
NOT_OURS = {"spatial_ref_sys", "alembic_version"}
OUR_FUNCTIONS = {"areas_derive", "areas_subdivide", "kelurahan_at", "activities_assign_area"}
INDEX_RE = re.compile(r" ON (?:ONLY )?(?:\w+\.)?(\w+) USING (\w+) \((.*)\)")


async def _tables(conn: AsyncConnection) -> set[str]:
    """Tables in `public`, partitions left out (they are their parent's)."""
    rows = await conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"))
    return {r[0] for r in rows} - NOT_OURS


async def _indexes(conn: AsyncConnection) -> set[tuple[str, str, str]]:
    """(table, method, key columns) of every index in `public`, from pg_indexes."""
    rows = await conn.execute(text("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"))
    out = set()
    for (definition,) in rows:
        m = INDEX_RE.search(definition)
        assert m, definition
        out.add((m.group(1), m.group(2), m.group(3)))
    return out


async def _own_functions(conn: AsyncConnection) -> set[str]:
    """Functions in `public` that no extension owns."""
    rows = await conn.execute(text("""
        SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND NOT EXISTS (
            SELECT 1 FROM pg_depend d
            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"""))
    return {r[0] for r in rows}


async def _state(url: str) -> tuple[set[str], set[tuple[str, str, str]], set[str], str | None]:
    async with connect(url) as conn:
        version = await schema_revision(conn)
        return await _tables(conn), await _indexes(conn), await _own_functions(conn), version


def _check_head(tables: set[str], indexes: set[tuple[str, str, str]], functions: set[str],
                version: str | None, geometry_columns: list[tuple[str, str]]) -> None:
    assert version == migrate.head()
    assert set(metadata.tables) <= tables
    assert functions >= OUR_FUNCTIONS
    assert geometry_columns, "no geometry column at all"
    for table, column in geometry_columns:
        assert (table, "gist", column) in indexes, f"no GiST index on {table}.{column}"
    assert ("activities", "btree", "area_id, started_at") in indexes
    assert ("activities", "btree", "staff_id, started_at") in indexes


async def _geometry_columns(url: str) -> list[tuple[str, str]]:
    async with connect(url) as conn:
        rows = await conn.execute(text("""
            SELECT f_table_name, f_geometry_column FROM geometry_columns
            WHERE f_table_schema = 'public' ORDER BY 1, 2"""))
        return [(r[0], r[1]) for r in rows]


async def test_up_from_empty_down_to_base_and_up_again(empty_db_url: str) -> None:
    assert (await _state(empty_db_url))[0] == set()

    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    geometry_columns = await _geometry_columns(empty_db_url)
    assert {("areas", "geom"), ("areas", "label_point"), ("area_parts", "geom"),
            ("activities", "geom")} <= set(geometry_columns)
    _check_head(*await _state(empty_db_url), geometry_columns)

    await asyncio.to_thread(migrate.downgrade, empty_db_url, "base")
    tables, indexes, functions, version = await _state(empty_db_url)
    assert tables == set()
    assert functions == set()
    assert {t for t, _, _ in indexes} <= NOT_OURS
    assert version is None

    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    _check_head(*await _state(empty_db_url), geometry_columns)


def _udt(type_: Any) -> str:
    """The PostgreSQL type name (`udt_name`) a Core column type stands for."""
    if isinstance(type_, ARRAY):
        return "_" + _udt(type_.item_type)
    for cls, udt in [(Geometry, "geometry"), (SmallInteger, "int2"), (BigInteger, "int8"),
                     (Integer, "int4"), (CHAR, "bpchar"), (Text, "text"), (Uuid, "uuid"),
                     (Boolean, "bool"), (Float, "float8"), (DATERANGE, "daterange"),
                     (DATEMULTIRANGE, "datemultirange"), (JSONB, "jsonb"), (Date, "date"),
                     (LargeBinary, "bytea")]:
        if isinstance(type_, cls):
            return udt
    if isinstance(type_, DateTime):
        return "timestamptz" if type_.timezone else "timestamp"
    raise AssertionError(f"no PostgreSQL name known for {type_!r}")


async def test_core_mirror_matches_the_migrated_database(db_url: str) -> None:
    async with connect(db_url) as conn:
        assert await _tables(conn) == set(metadata.tables), "a table is missing on one side"
        rows = (await conn.execute(text("""
            SELECT table_name, column_name, udt_name, is_nullable = 'YES', character_maximum_length
            FROM information_schema.columns WHERE table_schema = 'public'"""))).all()
        geoms = dict(((r[0], r[1]), (r[2], r[3])) for r in (await conn.execute(text(
            "SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns"))).all())
        pks = {(r[0], r[1]) for r in await conn.execute(text("""
            SELECT k.table_name, k.column_name FROM information_schema.table_constraints c
            JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
            WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public'"""))}
    db = {(t, c): (udt, nullable, length) for t, c, udt, nullable, length in rows}
    for table in metadata.tables.values():
        assert {c for t, c in db if t == table.name} == set(table.columns.keys()), table.name
        for col in table.columns:
            udt, nullable, length = db[(table.name, col.name)]
            where = f"{table.name}.{col.name}"
            assert udt == _udt(col.type), where
            assert nullable == col.nullable, where
            assert ((table.name, col.name) in pks) == col.primary_key, where
            if isinstance(col.type, CHAR):
                assert length == col.type.length, where
            if isinstance(col.type, Geometry):
                spec = (col.type.geometry_type, col.type.srid)
                assert geoms[(table.name, col.name)] == spec, where


VALID_POLYGON = "SRID=4326;MULTIPOLYGON(((112.70 -7.30, 112.71 -7.30, 112.71 -7.29, 112.70 -7.30)))"

# (table whose rows must not change, the constraint, a statement that breaks it)
VIOLATIONS = {
    "negative citizens": ("activities", "activities_citizens_served_check", """
        INSERT INTO activities (id, staff_id, category_code, started_at, geom, citizens_served,
                                outcome_met)
        SELECT gen_random_uuid(), id, 'POSYANDU', now(), 'SRID=4326;POINT(112.7 -7.3)', -1, true
        FROM staff LIMIT 1"""),
    "17-digit NIP": ("staff", "staff_nip_check", """
        INSERT INTO staff (nip, name, unit_id)
        SELECT '19850312201001100', 'Nama', id FROM units LIMIT 1"""),
    "malformed area code": ("areas", "areas_check", f"""
        INSERT INTO areas (code, name, level, parent_id, geom, area_m2, label_point)
        SELECT '35.78.1', 'Nama', 'KECAMATAN', id, '{VALID_POLYGON}', 0, 'SRID=4326;POINT(0 0)'
        FROM areas WHERE level = 'CITY'"""),
    "overlapping target": ("targets", "targets_indicator_code_area_id_period_excl", """
        INSERT INTO targets (indicator_code, area_id, period, target_value)
        SELECT indicator_code, area_id, daterange('2026-10-15', '2026-11-15'), 3
        FROM targets LIMIT 1"""),
    "target of an area and a person": ("targets", "targets_area_or_staff", """
        INSERT INTO targets (indicator_code, area_id, staff_id, period, target_value)
        SELECT indicator_code, area_id, (SELECT id FROM staff LIMIT 1),
               daterange('2027-01-01', '2027-02-01'), 3
        FROM targets LIMIT 1"""),
    "target of nobody": ("targets", "targets_area_or_staff", """
        INSERT INTO targets (indicator_code, period, target_value)
        VALUES ('BALITA', daterange('2027-01-01', '2027-02-01'), 3)"""),
    "overlapping personal targets": ("targets", "targets_staff_period_excl", """
        INSERT INTO targets (indicator_code, staff_id, period, target_value)
        SELECT 'BALITA', s.id, p.period, 3 FROM (SELECT id FROM staff LIMIT 1) s,
            (VALUES (daterange('2027-01-01', '2027-02-01')),
                    (daterange('2027-01-15', '2027-02-15'))) p(period)"""),
}


@pytest.mark.parametrize("case", VIOLATIONS)
async def test_database_refuses_what_breaks_a_constraint(conn: AsyncConnection, case: str) -> None:
    table, constraint, statement = VIOLATIONS[case]
    count = text(f"SELECT count(*) FROM {table}")
    before = await conn.scalar(count)
    await conn.rollback()
    with pytest.raises(IntegrityError, match=f'"{constraint}"'):
        await conn.execute(text(statement))
    await conn.rollback()
    assert await conn.scalar(count) == before
