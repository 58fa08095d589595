"""What each export holds: its columns (Indonesian and English labels) and its row source.

Row sources read through the same `geo` functions as the GraphQL fields of the same name, and
shape each figure as those fields do (rounding, k-suppression, WIB times), so an export and the
GraphQL answer for the same arguments agree by construction. Adding an export (say `team`) is
one more `Table` in TABLES.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from geo import areas, coverage, people, population, series, team
from geo.anonymity import shown
from geo.filters import ActivityFilter
from geo.periods import WIB, Period
from graph.export_formats import Cell


@dataclass(frozen=True)
class Column:
    id: str     # the Indonesian label (the default)
    en: str


@dataclass(frozen=True)
class ExportQuery:
    """The arguments of the GraphQL field, checked and narrowed to what the caller may see."""

    level: str
    period: Period
    filter: ActivityFilter | None
    min_staff: int                  # graph.permissions.min_staff of the caller
    bucket: str | None = None
    compare: Period | None = None
    unit: str | None = None                 # the team's unit code, and
    units: frozenset[int] | None = None     # it and its sub-units (graph.permissions.team)


Rows = AsyncIterator[Sequence[Cell]]


@dataclass(frozen=True)
class Table:
    field: str                      # the GraphQL field: its access rule and its arguments
    file: Column                    # the word in the file name
    params: tuple[str, ...]         # query parameters beyond level, from, to, the filter, lang
    columns: Callable[[ExportQuery], Sequence[Column]]
    rows: Callable[[AsyncConnection, ExportQuery], Rows]
    by_level: bool = True           # rows per area of `level` (not the team's: per person)


AREA = (Column("Kode wilayah", "Area code"), Column("Nama wilayah", "Area name"))
PERIOD = (Column("Dari", "From"), Column("Sampai", "To"))
FIGURES = (
    Column("Aktivitas", "Activities"),
    Column("Petugas berbeda", "Distinct staff"),
    Column("Warga terlayani", "Citizens served"),
    Column("Luaran tercapai", "Outcomes met"),
    Column("Rasio luaran tercapai", "Outcome rate"),
    Column("Aktivitas terakhir (WIB)", "Last activity (WIB)"),
    Column("Aktivitas per km²", "Activities per km²"),
    Column("Aktivitas per 1000 penduduk", "Activities per 1000 residents"),
    Column("Warga terlayani per 1000 penduduk", "Citizens served per 1000 residents"),
)


def _wib(ts: datetime | None) -> datetime | None:
    return ts.astimezone(WIB) if ts is not None else None


def _figures(c: coverage.Coverage, people: int | None, min_staff: int) -> list[Cell]:
    """AreaCoverage's (and CoverageFigures') fields, in FIGURES' order."""
    return [c.activities, shown(c.staff, c.staff, min_staff), c.citizens, c.outcomes_met,
            None if c.outcome_rate is None else round(c.outcome_rate, 6),
            _wib(shown(c.last_at, c.staff, min_staff)), round(c.per_km2, 6),
            population.per_1000(c.activities, people), population.per_1000(c.citizens, people)]


def _coverage_columns(q: ExportQuery) -> Sequence[Column]:
    now = (*AREA, *PERIOD, *FIGURES)
    if q.compare is None:
        return now
    return (*now, *(Column(f"Pembanding: {c.id}", f"Previous: {c.en}") for c in (*PERIOD,
                                                                                 *FIGURES)))


async def _coverage_rows(conn: AsyncConnection, q: ExportQuery) -> Rows:
    rows = await coverage.coverage(conn, q.level, q.period, q.filter)
    ids = [r.area_id for r in rows]
    names = await areas.by_ids(conn, ids)
    people = await population.latest(conn, ids, q.period.end.year)
    before: dict[int, coverage.Coverage] = {}
    people_before: dict[int, int] = {}
    if q.compare is not None:
        before = {r.area_id: r for r in await coverage.coverage(conn, q.level, q.compare,
                                                                 q.filter)}
        people_before = await population.latest(conn, ids, q.compare.end.year)
    for r in rows:
        cells = [names[r.area_id].code, names[r.area_id].name, q.period.start, q.period.end,
                 *_figures(r, people.get(r.area_id), q.min_staff)]
        if q.compare is not None:
            cells += [q.compare.start, q.compare.end,
                      *_figures(before[r.area_id], people_before.get(r.area_id), q.min_staff)]
        yield cells


SERIES_COLUMNS = (*AREA, Column("Mulai", "Start"), Column("Selesai", "End"),
                  Column("Aktivitas", "Activities"), Column("Warga terlayani", "Citizens served"),
                  Column("Luaran tercapai", "Outcomes met"),
                  Column("Petugas berbeda", "Distinct staff"))


async def _series_rows(conn: AsyncConnection, q: ExportQuery) -> Rows:
    assert q.bucket is not None     # a required parameter of the series export
    names = {a.id: a for a in await areas.list_areas(conn, q.level)}
    async for p in series.stream(conn, q.level, q.period, q.bucket, q.filter):
        area = names[p.area_id]
        yield [area.code, area.name, p.start, p.end, p.activities, p.citizens, p.outcomes_met,
               shown(p.staff, p.staff, q.min_staff)]


TEAM_COLUMNS = (
    Column("ID petugas", "Staff id"), Column("Nama", "Name"), Column("Kode unit", "Unit code"),
    Column("Nama unit", "Unit name"), *PERIOD, Column("Aktivitas", "Activities"),
    Column("Warga terlayani", "Citizens served"), Column("Luaran tercapai", "Outcomes met"),
    Column("Rasio luaran tercapai", "Outcome rate"), Column("Hari lapangan", "Field days"),
    Column("Kelurahan dilayani", "Kelurahan served"),
    Column("Porsi di lapangan (≥ 250 m dari kantor)", "Field share (≥ 250 m from the office)"),
    Column("Porsi catatan ditandai", "Flagged share"),
    Column("Aktivitas terakhir (WIB)", "Last activity (WIB)"),
    Column("Capaian target (indikator capaian/target)", "Targets (indicator actual/target)"),
)


def _share(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


async def _team_rows(conn: AsyncConnection, q: ExportQuery) -> Rows:
    """StaffPerformance's fields (graph.types), one row per member, the whole team."""
    assert q.units is not None      # set by the export's authorisation
    members = (await team.team(conn, q.units, q.period, q.filter)).rows
    units = await people.units_by_ids(conn, sorted({m.staff.unit_id for m in members}))
    for m in members:
        unit = units[m.staff.unit_id]
        targets = "; ".join(f"{a.indicator} {a.actual}/{a.target:g}" for a in m.attainment)
        yield [str(m.staff.id), m.staff.name, unit.code, unit.name, q.period.start, q.period.end,
               m.activities, m.citizens, m.outcomes_met, _share(m.outcome_rate), m.field_days,
               m.areas_served, _share(m.field_share), _share(m.flagged_share), _wib(m.last_at),
               targets]


TABLES: dict[str, Table] = {
    "coverage": Table("Query.coverage", Column("cakupan", "coverage"),
                      ("compareFrom", "compareTo"), _coverage_columns, _coverage_rows),
    "series": Table("Query.coverageSeries", Column("tren", "series"), ("bucket",),
                    lambda q: SERIES_COLUMNS, _series_rows),
    "team": Table("Query.team", Column("tim", "team"), (), lambda q: TEAM_COLUMNS, _team_rows,
                  by_level=False),
}
