"""GET /export/{coverage|series|team}.{csv|xlsx}: the figures of the GraphQL answer for the same
arguments (CSV and XLSX parsed back), the GraphQL field's access rules, and bounded memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date, datetime
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.periods import Period
from graph.export_formats import csv_chunks
from graph.export_tables import TABLES, ExportQuery
from tests.conftest import Api, ApiAs, serve, settings_for
from tests.seed import K1, K3, KEC1, S1
from tests.test_compare_population import FIGURES, import_population
from tests.test_series import POINT, series_query

COVERAGE_ARGS = {"level": "KELURAHAN", "from": "2026-10-05", "to": "2026-10-11",
                 "compareFrom": "2026-09-28", "compareTo": "2026-10-04"}
FIGURE_NAMES = FIGURES.split()
SERIES_ARGS = {"level": "KELURAHAN", "from": "2026-09-30", "to": "2026-10-17", "bucket": "WEEK",
               "areaCode": KEC1, "unitCode": "DINKES"}


async def download(client: httpx.AsyncClient, name: str, args: dict[str, str]) -> httpx.Response:
    return await client.get(f"/export/{name}", params=args)


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")     # the BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def parse_xlsx(body: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


def cell(value: Any) -> Any:
    """A GraphQL value as the CSV writes it."""
    return "" if value is None else str(value)


def xlsx_cell(value: Any, kind: str) -> Any:
    """A GraphQL value as the XLSX holds it (dates as dates, WIB wall-clock times)."""
    if value is None:
        return None
    if kind == "date":
        return datetime.combine(date.fromisoformat(value), datetime.min.time())
    if kind == "time":
        return datetime.fromisoformat(value).replace(tzinfo=None)
    return value


def coverage_gql() -> str:
    a = COVERAGE_ARGS
    return f"""{{ coverage(level: {a["level"]}, period: {{from: "{a["from"]}", to: "{a["to"]}"}},
        compareTo: {{from: "{a["compareFrom"]}", to: "{a["compareTo"]}"}}) {{
            area {{ code name }} {FIGURES} previous {{ {FIGURES} }} }} }}"""


def expected_coverage(rows: list[dict[str, Any]], as_cell: Any) -> list[list[Any]]:
    a = COVERAGE_ARGS
    out = []
    for r in rows:
        kinds = {"lastActivityAt": "time"}
        now = [as_cell(r[n], kinds.get(n, "")) for n in FIGURE_NAMES]
        before = [as_cell(r["previous"][n], kinds.get(n, "")) for n in FIGURE_NAMES]
        out.append([r["area"]["code"], r["area"]["name"], as_cell(a["from"], "date"),
                    as_cell(a["to"], "date"), *now, as_cell(a["compareFrom"], "date"),
                    as_cell(a["compareTo"], "date"), *before])
    return out


@pytest.mark.parametrize("role", ["admin", "planner"])
async def test_coverage_exports_equal_the_graphql_answer(api: Api, api_as: ApiAs, db_url: str,
                                                         role: str) -> None:
    await import_population(db_url, f"code,population,year\n{K1},5000,2025\n{K3},2000,2026\n")
    who = api_as(role, None, "PEMKOT")
    rows = (await who.data(coverage_gql()))["coverage"]
    assert any(r["activitiesPer1000"] for r in rows) and any(r["previous"]["activities"]
                                                             for r in rows)
    csv_rows = parse_csv((await download(who.http, "coverage.csv", COVERAGE_ARGS)).content)
    assert csv_rows[0][:4] == ["Kode wilayah", "Nama wilayah", "Dari", "Sampai"]
    assert csv_rows[0][-1] == "Pembanding: Warga terlayani per 1000 penduduk"
    assert csv_rows[1:] == expected_coverage(rows, lambda v, kind: cell(v))
    xlsx_rows = parse_xlsx((await download(who.http, "coverage.xlsx", COVERAGE_ARGS)).content)
    assert xlsx_rows[0] == csv_rows[0]
    assert xlsx_rows[1:] == expected_coverage(rows, xlsx_cell)


async def test_series_exports_equal_the_graphql_answer(api: Api) -> None:
    a = SERIES_ARGS
    data = await api.data(series_query(
        a["level"], a["bucket"], a["from"], a["to"],
        f'{{areaCode: "{a["areaCode"]}", unitCode: "{a["unitCode"]}"}}').replace(
            "area { code }", "area { code name }"))
    expected = [[s["area"]["code"], s["area"]["name"], p["start"], p["end"], p["activities"],
                 p["citizensServed"], p["outcomesMet"], p["distinctStaff"]]
                for s in data["coverageSeries"] for p in s["points"]]
    assert POINT.split() == ["start", "end", "activities", "citizensServed", "outcomesMet",
                             "distinctStaff"]
    assert sum(row[4] for row in expected) == 5        # DINKES in Karang Pilang, 30 Sep..17 Oct
    r = await download(api.http, "series.csv", {**a, "lang": "en"})
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == \
        'attachment; filename="jangkau-series-kelurahan-weekly-2026-09-30_2026-10-17.csv"'
    got = parse_csv(r.content)
    assert got[0] == ["Area code", "Area name", "Start", "End", "Activities", "Citizens served",
                      "Outcomes met", "Distinct staff"]
    assert got[1:] == [[cell(v) for v in row] for row in expected]
    r = await download(api.http, "series.xlsx", a)
    assert r.headers["content-disposition"] == \
        'attachment; filename="jangkau-tren-kelurahan-mingguan-2026-09-30_2026-10-17.xlsx"'
    got_xlsx = parse_xlsx(r.content)
    assert got_xlsx[0][:4] == ["Kode wilayah", "Nama wilayah", "Mulai", "Selesai"]
    assert got_xlsx[1:] == [[*row[:2], xlsx_cell(row[2], "date"), xlsx_cell(row[3], "date"),
                             *row[4:]] for row in expected]


async def test_coverage_file_name_and_indonesian_header(api: Api) -> None:
    r = await download(api.http, "coverage.csv", {"from": "2026-11-01", "to": "2026-11-30"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == \
        'attachment; filename="jangkau-cakupan-kelurahan-2026-11-01_2026-11-30.csv"'
    rows = parse_csv(r.content)
    assert rows[0][4:6] == ["Aktivitas", "Petugas berbeda"] and len(rows) == 154


@pytest.mark.parametrize(("role", "unit", "args", "status", "code"), [
    (None, None, {}, 401, "UNAUTHENTICATED"),
    ("staff", "DINKES", {"unitCode": "KEC-357801"}, 403, "FORBIDDEN"),
    ("admin", None, {"areaCode": "35.78.99"}, 404, "NOT_FOUND"),
    ("admin", None, {"level": "RT"}, 400, "BAD_USER_INPUT"),
    ("admin", None, {"to": "2025-01-01"}, 400, "BAD_USER_INPUT"),
    ("admin", None, {"bucket": "YEAR"}, 400, "BAD_USER_INPUT"),
    ("admin", None, {"colour": "red"}, 400, "BAD_USER_INPUT"),
])
async def test_export_refusals_are_coded(api_as: ApiAs, role: str | None, unit: str | None,
                                         args: dict[str, str], status: int, code: str) -> None:
    client = api_as(role, S1 if role == "staff" else None, unit).http
    r = await download(client, "series.csv", {**SERIES_ARGS, "areaCode": KEC1, **args})
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert "Traceback" not in r.text
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_a_token_that_does_not_verify_is_401(api: Api) -> None:
    r = await api.http.get("/export/coverage.csv",
                           params={"from": "2026-10-01", "to": "2026-10-31"},
                           headers={"Authorization": "Bearer not.a.token"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
    r = await api.http.get("/export/team.pdf")
    assert r.status_code == 404


# A year of WIB days for all 153 kelurahan: 55,845 rows, about 3 MB of CSV. Read whole (as
# GraphQL's `series.series` does) the rows peak at ~28 MB of Python allocations; streamed, the
# export peaks near 1.2 MB (both measured with tracemalloc, Dec 2026).
YEAR = Period(date(2026, 1, 1), date(2026, 12, 31))
PEAK_BOUND = 2 * 1024 * 1024


async def test_a_year_of_days_for_every_kelurahan_streams_in_bounded_memory(
        engine: AsyncEngine) -> None:
    table = TABLES["series"]
    q = ExportQuery("KELURAHAN", YEAR, None, min_staff=0, bucket="DAY")
    header = [c.id for c in table.columns(q)]
    size = lines = 0
    async with engine.connect() as conn:
        tracemalloc.start()
        try:
            async for chunk in csv_chunks(header, table.rows(conn, q)):
                size += len(chunk)
                lines += chunk.count(b"\n")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert lines == 1 + 153 * 365
    assert size > PEAK_BOUND       # the whole file would not fit under the bound
    assert peak < PEAK_BOUND, f"peak {peak:,} bytes for {size:,} bytes of CSV"


async def test_the_public_level_exports_without_a_token_and_suppresses_small_cells(
        db_url: str) -> None:
    async for public in serve(settings_for(db_url, public_level="KECAMATAN"), role=None):
        args = {"level": "KECAMATAN", "from": "2026-10-01", "to": "2026-10-31"}
        rows = {r[0]: r for r in parse_csv(
            (await download(public.http, "coverage.csv", args)).content)[1:]}
        assert rows[KEC1][4:6] == ["5", "3"]            # 3 distinct staff: shown (k = 3)
        assert rows["35.78.02"][4:6] == ["1", ""]       # 1 staff member: suppressed
        r = await download(public.http, "coverage.csv", {**args, "level": "KELURAHAN"})
        assert (r.status_code, r.json()["error"]["code"]) == (401, "UNAUTHENTICATED")


TEAM_GQL = """{ team(unitCode: "DINKES", period: {from: "2026-10-01", to: "2026-10-31"}) {
    edges { node { staff { id name unit { code name } } activities citizensServed outcomesMet
        outcomeRate fieldDays areasServed fieldShare flaggedShare lastActivityAt
        attainment { indicator target actual } } } } }"""


@pytest.mark.parametrize("role, sub", [("admin", None), ("supervisor", S1)])
async def test_team_exports_equal_the_graphql_answer(api_as: ApiAs, role: str,
                                                     sub: Any) -> None:
    who = api_as(role, sub, "DINKES")
    nodes = [e["node"] for e in (await who.data(TEAM_GQL))["team"]["edges"]]
    assert sum(n["activities"] for n in nodes) > 0
    expected = [[n["staff"]["id"], n["staff"]["name"], n["staff"]["unit"]["code"],
                 n["staff"]["unit"]["name"], "2026-10-01", "2026-10-31", n["activities"],
                 n["citizensServed"], n["outcomesMet"], n["outcomeRate"], n["fieldDays"],
                 n["areasServed"], n["fieldShare"], n["flaggedShare"], n["lastActivityAt"],
                 "; ".join(f'{a["indicator"]} {a["actual"]}/{a["target"]:g}'
                           for a in n["attainment"])] for n in nodes]
    args = {"unitCode": "DINKES", "from": "2026-10-01", "to": "2026-10-31"}
    r = await download(who.http, "team.csv", args)
    assert r.headers["content-disposition"] == \
        'attachment; filename="jangkau-tim-dinkes-2026-10-01_2026-10-31.csv"'
    got = parse_csv(r.content)
    assert got[0][:4] == ["ID petugas", "Nama", "Kode unit", "Nama unit"]
    assert got[1:] == [[cell(v) for v in row] for row in expected]
    xlsx = parse_xlsx((await download(who.http, "team.xlsx", args)).content)
    assert xlsx[1:] == [[*row[:4], xlsx_cell(row[4], "date"), xlsx_cell(row[5], "date"),
                         *row[6:14], xlsx_cell(row[14], "time"), row[15] or None]
                        for row in expected]


async def test_team_export_needs_a_unit_and_keeps_the_team_rules(api_as: ApiAs) -> None:
    args = {"from": "2026-10-01", "to": "2026-10-31"}
    r = await download(api_as("admin").http, "team.csv", args)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "BAD_USER_INPUT")
    r = await download(api_as("planner", None, "BAPPEDA").http, "team.csv",
                       {**args, "unitCode": "DINKES"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FORBIDDEN")
    r = await download(api_as("supervisor", S1, "DINKES").http, "team.csv",
                       {**args, "unitCode": "KEC-357801"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FORBIDDEN")
