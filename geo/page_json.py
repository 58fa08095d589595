"""A page of activities written as JSON by PostgreSQL: the compiled path of graph.compile.

The caller describes the object it wants for each activity as a `Shape`: output keys (aliases
included) in order, each a field of the catalogue below, a constant (`__typename`), or a nested
shape of the activity's staff member, their unit, or its kelurahan. One statement reads the page
(the orders of geo.activities.page), joins what the shapes ask for, and returns every
object as JSON text ready to be embedded in the answer untouched (an orjson Fragment), with the
few columns the caller still needs for cursors and the access log.

Every value is written exactly as the resolvers would write it: times in WIB (+07:00, ISO 8601
with microseconds only when there are some, as Python's isoformat), GeoJSON by ST_AsGeoJSON with
the same precision, floats as the shortest text that reads back the same, with `.0` on whole
numbers as orjson writes them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.activities import ORDERS, generic, window
from geo.areas import PRECISION
from geo.db import Statements, fetch_named
from geo.filters import Where

# Every value below is SQL that writes JSON text, never NULL (`'null'`): objects are joined
# from their parts by concatenation, a third cheaper than json_build_object, which looks up
# every argument's type again for every row (issue 13: 1.70 -> 1.42 ms for a page of 100).


def _null(sql: str) -> str:
    """`sql`, or JSON null where it is NULL (a concatenation with NULL is NULL)."""
    return f"coalesce({sql}, 'null')"


def _wib(col: str) -> str:
    """timestamptz -> "2026-11-27T08:30:00+07:00" (with .ffffff when not a whole second)."""
    local = f"({col} AT TIME ZONE 'UTC' + interval '7 hours')"
    return _null(f"'\"' || to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                 f" || CASE WHEN to_char({local}, 'US') = '000000' THEN ''"
                 f" ELSE to_char({local}, '.US') END || '+07:00\"'")


def _float(col: str) -> str:
    """float8 -> JSON as orjson writes it: whole numbers keep their '.0'."""
    return _null(f"CASE WHEN {col} = trunc({col}) AND abs({col}) < 1e15"
                 f" THEN trunc({col})::bigint::text || '.0' ELSE to_json({col})::text END")


def _geojson(col: str) -> str:
    return _null(f"ST_AsGeoJSON({col}, {PRECISION})")


def _text(col: str) -> str:
    """A string, escaped as JSON."""
    return _null(f"to_json({col})::text")


def _uuid(col: str) -> str:
    """A UUID's text needs no escaping."""
    return _null(f"'\"' || {col} || '\"'")


def _plain(col: str) -> str:
    """A boolean or an integer: its text is its JSON."""
    return _null(f"{col}::text")


# Each object's fields: the SQL that writes its JSON value. Relations are `Shape`s of their own.
FIELDS: dict[str, dict[str, str]] = {
    "activity": {
        "id": _uuid("a.id"),
        "category": _text("a.category_code"),
        "startedAt": _wib("a.started_at"),
        "endedAt": _wib("a.ended_at"),
        "deviceTime": _wib("a.device_time"),
        "receivedAt": _wib("a.received_at"),
        "location": _geojson("a.geom"),
        "accuracyMeters": _float("a.accuracy_m"),
        "mockLocation": _plain("a.mock_location"),
        "citizensServed": _plain("a.citizens_served"),
        "outcome": _text("a.outcome_code"),
        "outcomeMet": _plain("a.outcome_met"),
        "note": _text("a.note"),
        "flags": _text("a.flags"),
        "review": _text("a.review"),
        "confidence": _float("a.confidence"),
    },
    "staff": {
        "id": _uuid("s.id"),
        "nip": _text("s.nip"),
        "name": _text("s.name"),
        "active": _plain("s.active"),
    },
    "unit": {
        "code": _text("su.code"),
        "name": _text("su.name"),
        "kind": _text("su.kind"),
    },
    "area": {
        "code": _text("ar.code"),
        "name": _text("ar.name"),
        "level": _text("ar.level"),
        "areaKm2": _float("(ar.area_m2 / 1e6)"),
        "labelPoint": _geojson("ar.label_point"),
    },
    "flag": {       # one of an activity's flags with its reason, in flag order
        "flag": _text("u.flag"),
        "explanation": _text("coalesce(a.flag_notes ->> u.flag, '')"),
    },
}
# relation -> (the object it belongs to, its join, the condition under which it is null)
RELATIONS: dict[str, tuple[str, str, str | None]] = {
    "staff": ("activity", "JOIN staff s ON s.id = a.staff_id", None),
    "unit": ("staff", "JOIN units su ON su.id = s.unit_id", None),
    "area": ("activity", "LEFT JOIN areas ar ON ar.id = a.area_id", "ar.id IS NULL"),
    "flag": ("activity", "", None),     # a list: see LISTS
}
# Relations that are lists of objects: the subquery that yields their rows, in order.
LISTS = {"flag": ("FROM unnest(a.flags) WITH ORDINALITY AS u(flag, n)", "u.n")}


@dataclass(frozen=True)
class Const:
    """A constant value (a `__typename`)."""

    value: str


@dataclass(frozen=True)
class Shape:
    """The JSON object to write for one object: (output key, what) in output order, where
    what is a field name of FIELDS[kind], a Const, or the Shape of a relation (its `kind`)."""

    kind: str
    fields: tuple[tuple[str, str | Const | Shape], ...]

    def compilable(self) -> bool:
        """Whether every field is one this module can write."""
        known = FIELDS[self.kind]
        return all(isinstance(w, Const)
                   or (isinstance(w, Shape) and RELATIONS.get(w.kind, ("",))[0] == self.kind
                       and w.compilable())
                   or (isinstance(w, str) and w in known)
                   for _, w in self.fields)

    def relations(self) -> set[str]:
        found: set[str] = set()
        for _, w in self.fields:
            if isinstance(w, Shape):
                found |= {w.kind} | w.relations()
        return found


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _json_literal(value: str) -> str:
    """A JSON string (a key, a type name) as an SQL literal of its JSON text."""
    return _literal(orjson.dumps(value).decode())


def _object(parts: Sequence[tuple[str, str]]) -> str:
    """The JSON text of an object of (key, SQL writing the value's JSON text), in order."""
    if not parts:
        return "'{}'"
    pieces = [f"{_literal('{' if i == 0 else ',')} || {_json_literal(k)} || ':' || {v}"
              for i, (k, v) in enumerate(parts)]
    return "(" + " || ".join(pieces) + " || '}')"


def _array(items: str, order: str, where: str = "") -> str:
    """The JSON text of the array of the aggregated `items` (JSON texts) in `order`."""
    return f"('[' || coalesce(string_agg({items}, ',' ORDER BY {order}) {where}, '') || ']')"


def object_sql(shape: Shape) -> str:
    """The JSON text of the object the shape describes (its keys in their order)."""
    parts = []
    for key, what in shape.fields:
        if isinstance(what, Const):
            value = _json_literal(what.value)
        elif isinstance(what, Shape) and what.kind in LISTS:
            rows, order = LISTS[what.kind]
            value = f"(SELECT {_array(object_sql(what), order)} {rows})"
        elif isinstance(what, Shape):
            value = object_sql(what)
            null_when = RELATIONS[what.kind][2]
            if null_when is not None:
                value = f"CASE WHEN {null_when} THEN 'null' ELSE {value} END"
        else:
            value = FIELDS[shape.kind][what]
        parts.append((key, value))
    return _object(parts)


def _joins(shapes: Sequence[Shape]) -> str:
    """The joins the shapes' relations need (lists are subqueries of their own)."""
    wanted = set().union(*(s.relations() for s in shapes)) if shapes else set()
    return "\n".join(RELATIONS[r][1] for r in RELATIONS if r in wanted and r not in LISTS)


def lookup_sql(shape: Shape) -> str:
    """The activities `$1` (ids, as many times as asked), each its id, staff id and the JSON
    text of `shape`, for graph.fastpath's lookups by id (one statement for the lookups of
    concurrent requests, geo.coalesce). Read through activities_by_id, whose plan is cached
    (migration 0015).

    The same statement writes the access log's journal: for each id asked by a reader who is
    logged (`$2` subs, `$3` roles, `$4` their staff ids; a NULL sub is not logged) whose
    activity is another person's, a row of access_log_pages (migration 0019) under the fields
    `$5`, what `access_log.Ledger` would note for it. Committed before the answers leave."""
    return f"""
        WITH q AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[])
                   WITH ORDINALITY AS q(id, sub, role, own, k)),
        a AS (SELECT * FROM activities_by_id($1::uuid[])),
        j AS (INSERT INTO access_log_pages (sub, role, fields, subjects, counts)
              SELECT q.sub, q.role, $5::text[], ARRAY[a.staff_id], ARRAY[1]
              FROM q JOIN a ON a.id = q.id
              WHERE q.sub IS NOT NULL AND a.staff_id IS DISTINCT FROM q.own
              ORDER BY q.k)
        SELECT a.id, a.staff_id, {object_sql(shape)} FROM a {_joins([shape])}"""


# A page's cursor (graph.resolvers.pagination.encode_cursor) written by PostgreSQL: the URL-safe
# base64, unpadded, of the JSON ["<started_at in UTC, as Python's isoformat>", "<id>"].
# (PostgreSQL's base64 breaks lines every 76 characters: translate drops the newlines.)
CURSOR = ("rtrim(translate(encode(convert_to('[\"' || to_char(a.started_at AT TIME ZONE 'UTC',"
          " 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN to_char(a.started_at, 'US') = '000000'"
          " THEN '' ELSE to_char(a.started_at, '.US') END || '+00:00\",\"' || a.id || '\"]',"
          " 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')")

# One `edges` response key: its edge's fields in order, each "cursor", a Const (`__typename`)
# or the Shape of its node.
EdgeShape = tuple[tuple[str, str | Const | Shape], ...]


def edge_sql(edge: EdgeShape) -> str:
    parts = []
    for key, what in edge:
        if isinstance(what, Shape):
            value = object_sql(what)
        elif isinstance(what, Const):
            value = _json_literal(what.value)
        else:       # "cursor"
            value = f"('\"' || {CURSOR} || '\"')"
        parts.append((key, value))
    return _object(parts)


@dataclass(frozen=True)
class Edges:
    """A page newest first, its edges written whole: what the access log and pageInfo need
    (ids, staff ids and start times of the page's rows, in order; whether more follow) and
    each edges key's JSON array."""

    ids: list[uuid.UUID]
    staff_ids: list[uuid.UUID]
    started_at: list[datetime]
    more: bool
    edges: tuple[str, ...]


def _read(*sql: str) -> str:
    """The columns of the page's rows that `sql` reads (`a.<column>`), and those every page
    needs (cursors, the access log): the rows carry no others (a tenth of a page's time)."""
    read = set(re.findall(r"\ba\.(\w+)", " ".join(sql))) - {"rn"}
    return ", ".join(f"a.{c}" for c in sorted(read | {"id", "staff_id", "started_at"}))


# A page's row of `access_log_pages` (migration 0019), written by the page's own statement:
# every other person of the page (rows `rn <= :first` of `p`) and how many of theirs it shows;
# no row when there is none.
PAGE_JOURNAL = """
    INSERT INTO access_log_pages (sub, role, fields, subjects, counts)
    SELECT CAST(:j_sub AS text), CAST(:j_role AS text), CAST(:j_fields AS text[]),
           array_agg(g.staff_id ORDER BY g.staff_id), array_agg(g.n ORDER BY g.staff_id)
    FROM (SELECT staff_id, CAST(count(*) AS integer) AS n FROM p
          WHERE rn <= :first AND staff_id IS DISTINCT FROM CAST(:j_own AS uuid)
          GROUP BY staff_id) g
    HAVING count(*) > 0"""


@dataclass(frozen=True)
class Journal:
    """Who reads a page whose statement journals it (graph.fastpage, PAGE_JOURNAL): what
    `access_log.Ledger` would have noted, grouped by PostgreSQL. `fields` are the names the
    reads go under, sorted as the ledger sorts them; `own` is the reader's staff id, whose own
    activities are not logged."""

    sub: str
    role: str
    own: uuid.UUID | None
    fields: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        return {"j_sub": self.sub, "j_role": self.role, "j_own": self.own,
                "j_fields": list(self.fields)}


async def edges(conn: AsyncConnection | Statements, where: Where, first: int,
                after: dict[str, Any] | None,
                edge_shapes: Sequence[EdgeShape], journal: Journal | None = None) -> Edges:
    """Up to `first` activities newest first after the cursor, each edge's JSON (cursor
    included) aggregated by PostgreSQL: one row, whatever the page's length. With a `journal`,
    the same statement writes the page's access-log journal row and is committed before this
    returns (the answer may leave then)."""
    shapes = [w for e in edge_shapes for _, w in e if isinstance(w, Shape)]
    mine = "FILTER (WHERE a.rn <= :first)"
    arrays = "".join(f", {_array(edge_sql(e), 'a.rn', mine)}" for e in edge_shapes)
    joins = _joins(shapes)
    inner, params = window(where, first, after, "newest", _read(arrays, joins))
    order_by = ORDERS["newest"][1].replace("a.", "x.")
    page = f"SELECT x.*, row_number() OVER (ORDER BY {order_by}) AS rn FROM ({inner}) x"
    # Read twice with a journal (the page, the access log): a CTE, materialised once. The
    # journal's INSERT runs whether or not the SELECT reads it.
    ctes, source = (f"WITH p AS ({page}), j AS ({PAGE_JOURNAL}) ", "p") if journal \
        else ("", f"({page})")
    (row,) = await fetch_named(conn, f"""
        {ctes}SELECT array_agg(a.id ORDER BY a.rn) {mine},
               array_agg(a.staff_id ORDER BY a.rn) {mine},
               array_agg(a.started_at ORDER BY a.rn) {mine}, count(*) > :first{arrays}
        FROM {source} a
        {joins}""", {**params, "first": first, **(journal.params() if journal else {})},
        generic=generic(where), commit=journal is not None)
    return Edges(row[0] or [], row[1] or [], row[2] or [], row[3], tuple(row[4:]))


@dataclass(frozen=True)
class PageRow:
    """One activity of a compiled page: what cursors and the access log need, and its objects'
    JSON text, one per shape asked."""

    id: uuid.UUID
    staff_id: uuid.UUID
    started_at: datetime
    confidence: float
    objects: tuple[str, ...]


async def page(conn: AsyncConnection, where: Where, first: int, after: dict[str, Any] | None,
               shapes: Sequence[Shape], order: str = "newest") -> list[PageRow]:
    """Up to `first + 1` activities in `order` after the cursor (`after`: its parameters,
    after_t/after_id, and after_c by confidence), each with the JSON of `shapes`."""
    inner, params = window(where, first, after, order, "*")
    objects = "".join(f", {object_sql(s)} AS o{i}" for i, s in enumerate(shapes))
    found = await fetch_named(conn, f"""
        SELECT a.id, a.staff_id, a.started_at, a.confidence{objects}
        FROM ({inner}) a
        {_joins(shapes)}
        ORDER BY {ORDERS[order][1]}""", params, generic=generic(where))
    return [PageRow(r[0], r[1], r[2], r[3], tuple(r[4:])) for r in found]
