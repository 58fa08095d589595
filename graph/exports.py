"""Downloads for spreadsheets: `GET /export/{coverage|series}.{csv|xlsx}`.

The query string carries the GraphQL field's arguments: `level` (default KELURAHAN), `from`,
`to` (WIB dates, required), `bucket` (series), `compareFrom`/`compareTo` (coverage), the
activity filter's `areaCode`, `unitCode`, `category`, `staffId`, `outcomeMet` and
`includeFlagged`, and `lang` (`id`, the default, or `en`) for the header row. Access is the
GraphQL field's, and a refusal is a coded JSON error before any byte of the file: 401 without a
valid token where one is needed, 403 for what the token may not read, 400 for bad arguments,
404 for an unknown code. Rows are streamed from a server-side cursor, so a year of days for
every kelurahan is sent in bounded memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from geo.boundaries import LEVELS
from geo.errors import BadInput, JangkauError, NotFound
from geo.filters import ActivityFilter
from geo.periods import make_period
from geo.record import parse_uuid
from geo.series import BUCKETS
from geo.settings import Settings
from graph import permissions
from graph.context import Context, context_of
from graph.edge import error_response
from graph.export_formats import CSV_TYPE, XLSX_TYPE, Cell, csv_chunks, xlsx_chunks
from graph.export_tables import TABLES, ExportQuery, Rows, Table
from graph.query_params import boolean, choice, day, one

FORMATS = {"csv": CSV_TYPE, "xlsx": XLSX_TYPE}
COMMON = ("level", "from", "to", "areaCode", "unitCode", "category", "staffId", "outcomeMet",
          "includeFlagged", "lang")
LANGS = ("id", "en")
LEVEL_WORDS = {"CITY": ("kota", "city"), "KECAMATAN": ("kecamatan", "kecamatan"),
               "KELURAHAN": ("kelurahan", "kelurahan")}
BUCKET_WORDS = {"DAY": ("harian", "daily"), "WEEK": ("mingguan", "weekly"),
                "MONTH": ("bulanan", "monthly")}


def _period_pair(query: QueryParams, first: str, last: str, settings: Settings,
                 required: bool) -> tuple[date, date] | None:
    start, end = day(query, first), day(query, last)
    if start is None and end is None and not required:
        return None
    if start is None or end is None:
        raise BadInput(f"give both {first!r} and {last!r} (WIB dates like 2026-11-01)")
    make_period(start, end, settings.max_period_days)
    return start, end


def parse_query(query: QueryParams, table: Table, settings: Settings,
                min_staff: int) -> tuple[ExportQuery, str]:
    """The export's arguments, checked, and the header's language."""
    known = (*COMMON, *table.params)
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise BadInput(f"unknown query parameter {unknown[0]!r:.40}; known: {', '.join(known)}")
    now = _period_pair(query, "from", "to", settings, required=True)
    assert now is not None
    before = _period_pair(query, "compareFrom", "compareTo", settings, required=False) \
        if "compareFrom" in table.params else None
    staff = one(query, "staffId")
    include_flagged = boolean(query, "includeFlagged")
    f = ActivityFilter(area_code=one(query, "areaCode"), unit_code=one(query, "unitCode"),
                       category=one(query, "category"), outcome_met=boolean(query, "outcomeMet"),
                       staff_id=parse_uuid(staff, "staffId") if staff is not None else None,
                       include_flagged=bool(include_flagged))
    q = ExportQuery(
        level=choice(query, "level", LEVELS, "KELURAHAN"),
        period=make_period(*now, settings.max_period_days), filter=f, min_staff=min_staff,
        bucket=choice(query, "bucket", BUCKETS, None) if "bucket" in table.params else None,
        compare=make_period(*before, settings.max_period_days) if before else None)
    return q, choice(query, "lang", LANGS, "id")


def file_name(table: Table, q: ExportQuery, lang: str, fmt: str) -> str:
    """e.g. jangkau-cakupan-kelurahan-2026-11-01_2026-11-30.csv"""
    en = lang == "en"
    scope = LEVEL_WORDS[q.level][en] if table.by_level else (q.unit or "unit").lower()
    words = [table.file.en if en else table.file.id, scope]
    if q.bucket is not None:
        words.append(BUCKET_WORDS[q.bucket][en])
    return f"jangkau-{'-'.join(words)}-{q.period.start}_{q.period.end}.{fmt}"


def _refused(request: Request, exc: JangkauError) -> JSONResponse:
    """In graph.edge's plain envelope, with its statuses; an unknown code is a 404 here."""
    return error_response(exc, path=request.url.path,
                          status=404 if isinstance(exc, NotFound) else None)


async def _authorised(ctx: Context, request: Request, table: Table) -> tuple[ExportQuery, str]:
    """Who asks, checked against the GraphQL field's rule, and the query narrowed to what they
    may see (the token was verified by graph.middleware.Edge)."""
    q, lang = parse_query(request.query_params, table, ctx.settings, min_staff=0)
    permissions.check(permissions.RULES[table.field], ctx.principal, ctx.settings,
                      f"this export ({table.field.removeprefix('Query.')})", q.level)
    if not table.by_level:      # the team of `unitCode`, with the team field's rules
        asked = q.filter or ActivityFilter()
        if asked.unit_code is None:
            raise BadInput("give unitCode: the unit whose team to export")
        units, narrowed = await permissions.team(ctx, asked.unit_code,
                                                 replace(asked, unit_code=None))
        return replace(q, filter=narrowed, units=units, unit=asked.unit_code), lang
    f = await permissions.aggregates(ctx, q.filter, q.level)
    return replace(q, filter=f, min_staff=permissions.min_staff(ctx, f)), lang


async def _rows_from(conn: AsyncConnection, first: Sequence[Cell], rest: Rows) -> Rows:
    """`first`, then the rest, then the connection goes back to the pool."""
    try:
        yield first
        async for row in rest:
            yield row
    finally:
        await conn.close()


async def _opened(engine: AsyncEngine, table: Table, q: ExportQuery) -> Rows:
    """The rows, with their first one read before the response starts: a bad code in the
    filter is a coded error, not a broken download."""
    conn = await engine.connect()
    try:
        rows = table.rows(conn, q)
        first = await anext(rows, None)
    except BaseException:
        await conn.close()
        raise
    if first is None:
        await conn.close()
        return _empty()
    return _rows_from(conn, first, rows)


async def _empty() -> Rows:
    return
    yield


async def export(request: Request) -> Response:
    name, fmt = request.path_params["name"], request.path_params["fmt"]
    table = TABLES.get(name)
    if table is None or fmt not in FORMATS:
        return _refused(request, NotFound(
            f"no export {name!r:.30}.{fmt!r:.10}; exports: "
            f"{', '.join(f'{n}.csv, {n}.xlsx' for n in TABLES)}"))
    try:
        ctx = context_of(request)
        q, lang = await _authorised(ctx, request, table)
        rows = await _opened(ctx.reader(), table, q)     # read-only: a replica when usable
    except JangkauError as exc:
        return _refused(request, exc)
    header = [c.en if lang == "en" else c.id for c in table.columns(q)]
    body: AsyncIterator[bytes] = csv_chunks(header, rows) if fmt == "csv" \
        else xlsx_chunks(header, rows, sheet=(table.file.en if lang == "en" else table.file.id))
    headers = {"Content-Disposition":
               f'attachment; filename="{file_name(table, q, lang, fmt)}"',
               "Cache-Control": "private, no-store", "Vary": "Authorization"}
    return StreamingResponse(body, media_type=FORMATS[fmt], headers=headers)


routes = [Route("/export/{name}.{fmt}", export, methods=["GET"])]
