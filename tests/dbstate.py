"""A fingerprint of everything a request could write, to show that a refusal changed nothing."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Every table a client can write to (rollups follow activities; the access log records reads).
TABLES = ("activities", "targets", "flag_reviews", "staff", "units", "service_categories",
          "indicators", "staff_assignments")


async def fingerprint(engine: AsyncEngine) -> dict[str, tuple[int, str]]:
    """Per table: its row count and the md5 of all its rows in a stable order."""
    async with engine.connect() as conn:
        out = {}
        for table in TABLES:
            row = (await conn.execute(text(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f"FROM {table} t"))).one()
            out[table] = (row[0], row[1])
    return out


async def tables_exist(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        found = await conn.scalar(text(
            "SELECT count(*) FROM unnest(CAST(:t AS text[])) n WHERE to_regclass(n) IS NOT NULL"),
            {"t": list(TABLES)})
    return found == len(TABLES)
