"""What an operation costs: the objects it asks for and the geometry vertices it makes us write.

Depth, aliases and tokens bound the *text* of a query; a short query can still ask for every
kelurahan's boundary at full resolution under every kecamatan's children. So each operation is
priced before it runs, from the document alone (validation is cached per document, so variable
*values* are not known here):

- every object in the answer costs 1, and a list multiplies what is inside it by its expected
  length: `areas`/`coverage`/`reach`/`gaps` by the areas of their level (1, 31, 153; all 185
  when no level is given), `children` by the mean number of areas inside one area of its level
  (31, 4.9, 0), the lists of a connection (any field taking `first`, such as `activities`) by
  `first` (50 when not given), `nearestActivities` by `limit`, `recordActivities` by the number
  of inputs, `coverageSeries` by its areas and each series' `points` by the buckets of the
  period (a period given by a variable: as many as max_period_days can hold), any other list
  by 10;
- a geometry costs 1 per 10 vertices, from the mean vertex counts of the shipped boundaries per
  level and zoom band (`Area.geometry`, `coverageMap`), and `hexbins` 1.7 per hexagon (the
  feature and its 7 vertices) for as many hexagons of that edge as the city holds (at most
  MAX_CELLS);
- `totalCount` costs 1 (a count query); other scalars cost nothing.

A size given as a variable counts at its default, or at its maximum when it has none
(`first` at max_first, `limit` at 1000, a batch at max_batch, a zoom at the band with the most
vertices): the price holds for any value the variable may take. An area known only at run time
counts as the largest of its possible levels. Introspection costs nothing (tokens bound it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)

from geo.nearest import MAX_LIMIT
from geo.periods import Period
from geo.planner import MAX_CELLS, MIN_CELL_M
from geo.series import BUCKETS, buckets
from geo.shapes import BANDS, FINEST, MAX_ZOOM, band_for_zoom
from graph.resolvers.pagination import DEFAULT_FIRST

VERTICES_PER_UNIT = 10
DEFAULT_LIST = 10
HEXAGON_VERTICES = 7
CITY_M2 = 335e6
FULL = len(BANDS)  # index of full resolution in `Level.vertices`
UNKNOWN = object()  # a variable without a default: its value is not known before run time


@dataclass(frozen=True)
class Level:
    """What one area of a level weighs, measured on the shipped Surabaya boundaries."""

    count: float            # areas of the level
    children: float         # mean areas directly inside one
    vertices: tuple[float, ...]  # mean vertices of one: zoom bands 0..3, then full resolution
    below: str | None
    above: str | None


AREA_LEVELS = ("CITY", "KECAMATAN", "KELURAHAN")
LEVELS: dict[str, Level] = {
    "CITY": Level(1, 31, (1760, 2321, 2782, 2875, 52), "KECAMATAN", None),
    "KECAMATAN": Level(31, 4.9, (90, 146, 175, 181, 177), "KELURAHAN", "CITY"),
    "KELURAHAN": Level(153, 0, (26, 45, 53, 55, 51), None, "KECAMATAN"),
}
_levels = tuple(LEVELS.values())
_total = sum(lv.count for lv in _levels)
# One area of a level known only at run time: the heaviest of each measure.
LEVELS["ANY"] = Level(1, max(lv.children for lv in _levels),
                      tuple(max(v) for v in zip(*(lv.vertices for lv in _levels), strict=True)),
                      "ANY", "ANY")
# Areas of every level together (`areas` without a level): their means, weighted by count.
LEVELS["ALL"] = Level(_total, sum(lv.children * lv.count for lv in _levels) / _total,
                      tuple(sum(v * lv.count for v, lv in zip(vs, _levels, strict=True)) / _total
                            for vs in zip(*(lv.vertices for lv in _levels), strict=True)),
                      "ALL", "ALL")


@dataclass(frozen=True)
class Caps:
    """The maxima a variable is assumed to reach when it has no default."""

    max_first: int
    max_batch: int
    max_period_days: int


@dataclass(frozen=True)
class Scope:
    """What the walk knows about the objects at this point of the query."""

    level: str = "ANY"        # of the area(s) here
    page: float | None = None  # the length of this connection's lists (its `first`)


@dataclass(frozen=True)
class Field:
    """One field as asked: its arguments (literal, a variable's default, or UNKNOWN)."""

    args: dict[str, Any]
    scope: Scope
    caps: Caps

    def get(self, name: str) -> Any:
        """None when not given (or null), UNKNOWN for a variable without a default."""
        return self.args.get(name)


# A field's rule: (items it yields, the scope of those items, own cost per parent object).
Priced = tuple[float, Scope, float]
Rule = Callable[[Field], Priced]


def _sized(value: Any, cap: float, absent: float) -> float:
    """A size as asked, within 0..cap (beyond the cap a resolver refuses it, and says why)."""
    if value is None:
        return absent
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return cap
    # Compared before float(): an integer literal of 400 digits does not fit a float.
    return float(min(max(value, 0), cap))


def _level(f: Field) -> str:
    """The `level` asked for; when a variable gives it, all levels together."""
    value = f.get("level")
    return value if isinstance(value, str) and value in AREA_LEVELS else "ALL"


def _level_of_code(code: Any) -> str:
    """Kemendagri codes nest by dots: 35.78 (city), 35.78.01, 35.78.01.1001."""
    if not isinstance(code, str):
        return "ANY"
    return {1: "CITY", 2: "KECAMATAN", 3: "KELURAHAN"}.get(code.count("."), "ANY")


def _band(zoom: Any, absent: int) -> int:
    if zoom is None:
        return absent
    if isinstance(zoom, int) and 0 <= zoom <= MAX_ZOOM:
        return band_for_zoom(zoom).number
    return -1  # unknown (or refused at run time): the heaviest band


def _geometry_cost(level: str, band: int) -> float:
    vertices = LEVELS[level].vertices
    return (max(vertices) if band < 0 else vertices[band]) / VERTICES_PER_UNIT


def _areas(f: Field) -> Priced:
    if f.get("level") is not None:
        level = _level(f)
        return LEVELS[level].count, Scope(level), 0
    parent = _level_of_code(f.get("parentCode")) if f.get("parentCode") is not None else None
    if parent is not None:
        below = LEVELS[parent].below
        return LEVELS[parent].children, Scope(below or "ANY"), 0
    return LEVELS["ALL"].count, Scope("ALL"), 0


def _per_level(f: Field) -> Priced:
    level = _level(f)
    return LEVELS[level].count, Scope(level), 0


def _children(f: Field) -> Priced:
    level = LEVELS[f.scope.level]
    return level.children, Scope(level.below or "ANY"), 0


def _parent(f: Field) -> Priced:
    level = LEVELS[f.scope.level]
    return (1 if level.above else 0), Scope(level.above or "ANY"), 0


def _same_area(f: Field) -> Priced:
    return 1, Scope(f.scope.level), 0


def _connection(f: Field) -> Priced:
    return 1, Scope(page=_sized(f.get("first"), f.caps.max_first, DEFAULT_FIRST)), 0


def _geometry(f: Field) -> Priced:
    return 0, f.scope, _geometry_cost(f.scope.level, _band(f.get("zoom"), FULL))


def _buckets(f: Field) -> float:
    """Points per series: exact for a literal period and bucket, else the most any may have."""
    period, bucket = f.get("period"), f.get("bucket")
    longest = f.caps.max_period_days
    try:
        days = Period(date.fromisoformat(period["from"]), date.fromisoformat(period["to"]))
    except (TypeError, KeyError, ValueError):
        # Clipped ends add a partial bucket on each side.
        return {"WEEK": longest // 7 + 2, "MONTH": longest // 28 + 2}.get(bucket, longest)
    if not 1 <= days.days <= longest or bucket not in BUCKETS:
        return 0    # refused at run time, saying why
    return len(buckets(days, bucket))


def _series(f: Field) -> Priced:
    level = _level(f)
    return LEVELS[level].count, Scope(level, page=_buckets(f)), 0


def _coverage_map(f: Field) -> Priced:
    level = _level(f)
    features = LEVELS[level].count
    return 0, f.scope, features * (1 + _geometry_cost(level, _band(f.get("zoom"), FINEST.number)))


def _hexbins(f: Field) -> Priced:
    size = f.get("cellSizeMeters")
    # Not a number (a variable): the smallest cell, the most hexagons.
    edge = (_sized(size, CITY_M2, MIN_CELL_M)
            if isinstance(size, int | float) and not isinstance(size, bool) else MIN_CELL_M)
    edge = max(edge, MIN_CELL_M)
    cells = min(MAX_CELLS, CITY_M2 / (1.5 * math.sqrt(3) * edge ** 2))
    return 0, f.scope, math.ceil(cells) * (1 + HEXAGON_VERTICES / VERTICES_PER_UNIT)


def _nearest(f: Field) -> Priced:
    return _sized(f.get("limit"), MAX_LIMIT, MAX_LIMIT), Scope(), 0


def _batch(f: Field) -> Priced:
    inputs = f.get("inputs")
    return (min(len(inputs), f.caps.max_batch) if isinstance(inputs, list) else f.caps.max_batch,
            Scope(), 0)


RULES: dict[str, Rule] = {
    "Query.area": lambda f: (1, Scope(_level_of_code(f.get("code"))), 0),
    "Query.areas": _areas,
    "Query.coverage": _per_level,
    "Query.reach": _per_level,
    "Query.gaps": _per_level,
    "Query.coverageMap": _coverage_map,
    "Query.coverageSeries": _series,
    "Query.hexbins": _hexbins,
    "Query.nearestActivities": _nearest,
    "Mutation.recordActivities": _batch,
    "Area.children": _children,
    "Area.parent": _parent,
    "Area.coverage": _same_area,
    "Area.geometry": _geometry,
    "AreaCoverage.area": _same_area,
    "AreaSeries.area": _same_area,
    "AreaReach.area": _same_area,
    "AreaGap.area": _same_area,
    "Activity.area": lambda f: (1, Scope("KELURAHAN"), 0),
    "ActivityConnection.totalCount": lambda f: (0, Scope(), 1),
}


def _unwrap(t: GraphQLOutputType) -> tuple[GraphQLNamedType, bool]:
    is_list = False
    while isinstance(t, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(t, GraphQLList)
        t = t.of_type
    return t, is_list


def _default_rule(f: Field, is_list: bool) -> Priced:
    """An object costs 1; a list its connection's page, or DEFAULT_LIST; a scalar nothing."""
    if not is_list:
        return 1, Scope(), 0
    return (f.scope.page if f.scope.page is not None else DEFAULT_LIST), Scope(), 0


class Pricer:
    """Prices one operation; a selection set met twice in the same scope is priced once."""

    def __init__(self, context: ValidationContext, op: OperationDefinitionNode, caps: Caps) -> None:
        self.context = context
        self.caps = caps
        self.defaults: dict[str, Any] = {
            d.variable.name.value: value_from_ast_untyped(d.default_value)
            if d.default_value is not None else UNKNOWN
            for d in op.variable_definitions or ()
        }
        self.memo: dict[tuple[int, str, Scope], float] = {}
        self.visiting: set[str] = set()

    def value(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            return self.defaults.get(node.name.value, UNKNOWN)
        return value_from_ast_untyped(node, self.defaults)

    def selection(self, sel: SelectionSetNode, parent: GraphQLObjectType, scope: Scope) -> float:
        key = (id(sel), parent.name, scope)
        if key not in self.memo:
            self.memo[key] = sum(self._one(node, parent, scope) for node in sel.selections)
        return self.memo[key]

    def _one(self, node: Any, parent: GraphQLObjectType, scope: Scope) -> float:
        if isinstance(node, FieldNode):
            return self.field(node, parent, scope)
        if isinstance(node, InlineFragmentNode):
            return self._fragment(node.selection_set, node.type_condition, parent, scope)
        if isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = self.context.get_fragment(name)
            if fragment is None or name in self.visiting:
                return 0  # unknown or cyclic: other rules report it
            self.visiting.add(name)
            try:
                return self._fragment(fragment.selection_set, fragment.type_condition, parent,
                                      scope)
            finally:
                self.visiting.discard(name)
        return 0

    def _fragment(self, sel: SelectionSetNode, condition: Any, parent: GraphQLObjectType,
                  scope: Scope) -> float:
        schema: GraphQLSchema = self.context.schema
        target = schema.get_type(condition.name.value) if condition is not None else parent
        if not isinstance(target, GraphQLObjectType):
            return 0
        return self.selection(sel, target, scope)

    def field(self, node: FieldNode, parent: GraphQLObjectType, scope: Scope) -> float:
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 0  # introspection, or unknown (reported by other rules)
        named, is_list = _unwrap(definition.type)
        args = {a.name.value: self.value(a.value) for a in node.arguments or ()}
        f = Field(args, scope, self.caps)
        rule = RULES.get(f"{parent.name}.{node.name.value}") or (
            _connection if "first" in definition.args else None)
        items, inner, own = rule(f) if rule else _default_rule(f, is_list)
        if not isinstance(named, GraphQLObjectType) or node.selection_set is None:
            return own
        return own + items * (1 + self.selection(node.selection_set, named, inner))


def operation_cost(context: ValidationContext, op: OperationDefinitionNode, caps: Caps) -> float:
    root = context.schema.get_root_type(op.operation)
    if root is None:
        return 0
    return Pricer(context, op, caps).selection(op.selection_set, root, Scope())
