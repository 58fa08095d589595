"""Area population by year (optional city data) and its CSV import.

Figures per 1000 residents use an area's own figure of the latest year up to the period's end
year: nothing is summed up from the areas inside it or extrapolated, so a missing figure
shows as no figure rather than a wrong one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.errors import BadInput

COLUMNS = ("code", "population", "year")
MIN_YEAR, MAX_YEAR = 1900, 2200
MAX_ERRORS_SHOWN = 5


@dataclass(frozen=True)
class PopulationRow:
    line: int       # in the file, for messages
    code: str
    population: int
    year: int


def per_1000(count: int, population: int | None) -> float | None:
    """`count` per 1000 residents, or None without a population figure."""
    return None if population is None else round(count * 1000 / population, 6)


async def latest(conn: AsyncConnection, area_ids: Sequence[int], year: int) -> dict[int, int]:
    """Each area's population of the latest year <= `year`; areas without one are absent."""
    rows = await conn.execute(text("""
        SELECT DISTINCT ON (area_id) area_id, population FROM area_population
        WHERE area_id = ANY(:ids) AND year <= :y ORDER BY area_id, year DESC"""),
        {"ids": list(area_ids), "y": year})
    return {r[0]: r[1] for r in rows}


def _int(raw: str, name: str, line: int, low: int, high: int) -> int:
    digits = raw.strip()
    if not (digits.isascii() and digits.isdigit()):
        raise BadInput(f"line {line}: {name} must be a whole number, got {raw!r:.30}")
    value = int(digits)
    if not low <= value <= high:
        raise BadInput(f"line {line}: {name} must lie in {low}..{high}, got {value}")
    return value


def parse_csv(data: str) -> list[PopulationRow]:
    """The rows of a CSV with a header naming code, population and year (any order, any case,
    other columns ignored); every bad line is reported, with its line number."""
    reader = csv.DictReader(io.StringIO(data.removeprefix("\ufeff")))
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadInput(f"line 1: the header must name the columns {', '.join(COLUMNS)}; "
                       f"missing {', '.join(missing)}")
    rows: list[PopulationRow] = []
    errors: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    for record in reader:
        line = reader.line_num
        try:
            code = (record["code"] or "").strip()
            if not code:
                raise BadInput(f"line {line}: code is empty")
            row = PopulationRow(line, code, _int(record["population"] or "", "population", line,
                                           1, 100_000_000),
                                _int(record["year"] or "", "year", line, MIN_YEAR, MAX_YEAR))
            if (row.code, row.year) in seen:
                raise BadInput(f"line {line}: {code} {row.year} is also on line "
                               f"{seen[(row.code, row.year)]}")
            seen[(row.code, row.year)] = line
            rows.append(row)
        except BadInput as exc:
            errors.append(exc.message)
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN \
            else ""
        raise BadInput("; ".join(errors[:MAX_ERRORS_SHOWN]) + more + ": nothing was imported")
    if not rows:
        raise BadInput("the file has a header but no rows: nothing was imported")
    return rows


async def import_rows(conn: AsyncConnection, rows: Sequence[PopulationRow]) -> int:
    """Insert or replace the figures in one transaction, all or nothing: an unknown area code
    refuses the lot."""
    async with conn.begin():
        ids = {c: i for c, i in await conn.execute(
            text("SELECT code, id FROM areas WHERE code = ANY(:c)"),
            {"c": sorted({r.code for r in rows})})}
        unknown = [r for r in rows if r.code not in ids]
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise BadInput(f"line {unknown[0].line}: unknown area code {unknown[0].code!r:.40}"
                           f"{more} (Kemendagri codes look like 35.78.01.1001): nothing was "
                           "imported")
        await conn.execute(text("""
            INSERT INTO area_population (area_id, year, population)
            SELECT * FROM unnest(CAST(:a AS integer[]), CAST(:y AS smallint[]),
                                 CAST(:p AS integer[]))
            ON CONFLICT (area_id, year) DO UPDATE SET population = EXCLUDED.population"""),
            {"a": [ids[r.code] for r in rows], "y": [r.year for r in rows],
             "p": [r.population for r in rows]})
    return len(rows)


async def import_file(conn: AsyncConnection, path: Path) -> int:
    """A CSV file (UTF-8, with or without BOM) of code, population, year."""
    try:
        data = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path.name}: not UTF-8 text (byte {exc.start}): save it as UTF-8 CSV") \
            from None
    return await import_rows(conn, parse_csv(data))
