"""coverage(compareTo): `previous` is coverage over the other period, from one more query; and
per-1000 figures from imported population (the latest year up to the period's end year)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from geo import population
from geo.db import connect
from geo.errors import BadInput
from tests.conftest import Api
from tests.seed import K1, K2, K3
from tests.sql_log import statements
from tests.test_cli import jangkau

FIGURES = """activities distinctStaff citizensServed outcomesMet outcomeRate lastActivityAt
    activitiesPerKm2 activitiesPer1000 citizensServedPer1000"""


def compare_query(level: str, period: tuple[str, str], before: tuple[str, str]) -> str:
    return f"""{{ coverage(level: {level}, period: {{from: "{period[0]}", to: "{period[1]}"}},
        compareTo: {{from: "{before[0]}", to: "{before[1]}"}}) {{
            area {{ code }} {FIGURES} previous {{ {FIGURES} }} }} }}"""


def plain_query(level: str, period: tuple[str, str]) -> str:
    return f"""{{ coverage(level: {level}, period: {{from: "{period[0]}", to: "{period[1]}"}}) {{
        area {{ code }} {FIGURES} }} }}"""


def by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r.pop("area")["code"]: r for r in rows}


@pytest.mark.parametrize("level", ["KELURAHAN", "KECAMATAN", "CITY"])
async def test_previous_is_coverage_over_compare_to(api: Api, level: str) -> None:
    now, before = ("2026-10-05", "2026-10-11"), ("2026-09-28", "2026-10-04")
    with statements(api, "FROM rollup_area_day") as seen:
        rows = by_code((await api.data(compare_query(level, now, before)))["coverage"])
    assert len(seen) == 2       # the period and compareTo: one set-based query each
    expected_now = by_code((await api.data(plain_query(level, now)))["coverage"])
    expected_before = by_code((await api.data(plain_query(level, before)))["coverage"])
    assert {c: {k: v for k, v in r.items() if k != "previous"} for c, r in rows.items()} \
        == expected_now
    assert {c: r["previous"] for c, r in rows.items()} == expected_before
    assert sum(r["previous"]["activities"] for r in rows.values()) > 0


async def test_previous_is_null_without_compare_to(api: Api) -> None:
    data = await api.data("""{ coverage(level: CITY, period: {from: "2026-10-01",
        to: "2026-10-31"}) { activities previous { activities } } }""")
    assert data["coverage"] == [{"activities": 7, "previous": None}]


async def import_population(url: str, csv_text: str) -> int:
    async with connect(url) as conn:
        return await population.import_rows(conn, population.parse_csv(csv_text))


async def test_per_1000_from_the_latest_year_up_to_the_period_end(api: Api, db_url: str) -> None:
    # 2027 is after October 2026: the 2025 figure counts; K2 has none; K3 only a later one.
    await import_population(db_url, f"code,population,year\n{K1},5000,2025\n{K1},6000,2027\n"
                          f"{K3},8000,2027\n")
    rows = by_code((await api.data(compare_query(
        "KELURAHAN", ("2026-10-01", "2026-10-31"), ("2025-10-01", "2025-10-31"))))["coverage"])
    assert (rows[K1]["activitiesPer1000"], rows[K1]["citizensServedPer1000"]) == (0.6, 3.6)
    assert (rows[K2]["activitiesPer1000"], rows[K2]["citizensServedPer1000"]) == (None, None)
    assert rows[K3]["activitiesPer1000"] is None
    assert rows[K1]["previous"]["activitiesPer1000"] == 0.0     # 2025: no activity, a figure
    assert rows[K3]["previous"]["activitiesPer1000"] is None
    # Without population no city data is invented.
    city = by_code((await api.data(plain_query("CITY", ("2026-10-01", "2026-10-31"))))["coverage"])
    assert city["35.78"]["activitiesPer1000"] is None


async def test_a_reimport_replaces_a_figure(db_url: str) -> None:
    await import_population(db_url, f"code,year,population\n{K1},2026,5000\n")
    await import_population(db_url, f"\ufeffyear,population,code,note\n2026,4000,{K1},revised\n")
    async with connect(db_url) as conn:
        assert await population.latest(conn, [await conn.scalar(
            text("SELECT id FROM areas WHERE code = :c"), {"c": K1})], 2026) != {}
        assert await conn.scalar(text("SELECT population FROM area_population")) == 4000


@pytest.mark.parametrize(("csv_text", "message"), [
    ("code,people,year\n", "line 1: the header must name the columns code, population, year; "
                           "missing population"),
    (f"code,population,year\n{K1},5000,2025\n{K2},lima ribu,2025\n",
     "line 3: population must be a whole number, got 'lima ribu'"),
    (f"code,population,year\n{K1},0,2025\n", "line 2: population must lie in 1..100000000"),
    (f"code,population,year\n{K1},5000,25\n", "line 2: year must lie in 1900..2200, got 25"),
    (f"code,population,year\n{K1},5000,2025\n{K1},5100,2025\n",
     "line 3: 35.78.01.1001 2025 is also on line 2"),
    ("code,population,year\n ,5000,2025\n", "line 2: code is empty"),
    ("code,population,year\n", "the file has a header but no rows"),
])
def test_bad_population_files_name_the_line(csv_text: str, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        population.parse_csv(csv_text)
    assert message in caught.value.message
    assert caught.value.code == "BAD_USER_INPUT"


async def test_an_unknown_code_refuses_the_whole_file(db_url: str) -> None:
    with pytest.raises(BadInput, match=r"line 3: unknown area code '35.78.99.9999'.*nothing"):
        await import_population(
            db_url, f"code,population,year\n{K1},5000,2025\n35.78.99.9999,10,2025\n")
    async with connect(db_url) as conn:
        assert await conn.scalar(text("SELECT count(*) FROM area_population")) == 0


async def test_cli_population_import(db_url: str, tmp_path: Path) -> None:
    good = tmp_path / "penduduk.csv"
    good.write_text(f"code,population,year\n{K1},5000,2025\n{K2},7000,2025\n", encoding="utf-8")
    run = await jangkau(db_url, tmp_path, "areas", "population", "import", str(good))
    assert run.code == 0, run.output
    assert "imported 2 population figures" in run.output
    bad = tmp_path / "bad.csv"
    bad.write_text(f"code,population,year\n{K3},-4,2025\n", encoding="utf-8")
    run = await jangkau(db_url, tmp_path, "areas", "population", "import", str(bad))
    assert run.code == 2 and "line 2: population must be a whole number" in run.output, run.output
    assert "Traceback" not in run.output
    async with connect(db_url) as conn:
        assert await conn.scalar(text("SELECT count(*) FROM area_population")) == 2
