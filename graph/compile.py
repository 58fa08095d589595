"""Compile, don't resolve: a page of activities answered as JSON written by PostgreSQL.

A connection field (`activities`, `flaggedActivities`) walks its own selection set before it
reads the page, as graphql-core would collect it (aliases, fragments and their type
conditions, @skip/@include with variables). When every `edges` selection maps onto SQL
(`geo.page_json.FIELDS`: an activity's own fields, its staff member and their unit's code, name
and kind, its kelurahan's code, name, level, areaKm2 and labelPoint, flagDetails, `__typename`
anywhere), the page is one statement that returns each node's JSON; the edges are handed to the
answer as orjson Fragments inside a `Precompiled` value, which `ExecutionContext` returns as it
is instead of walking every field of every row (`CompilingExecutor`).

Anything else falls back to the resolvers, whole: a field with arguments or not in the catalogue
(reviews, a unit's parent or office, an area's geometry, coverage, parent, children...), a
staff member's name or NIP when the caller may not identify everyone the filter can return,
compilation switched off (JANGKAU_COMPILE_PAGES=0), and WebSocket and SSE requests (their
encoders do not embed Fragments). What stays resolved is `pageInfo`, `totalCount` and the
connection's own `__typename`: cheap, once a page.

The answers are the same either way (tests/test_compiled.py runs every query both ways): the
same cursors, the same access-log rows (the edges note the page's reads; a selected `location`
notes "Activity.location" for every row), the same errors.

The results of recordActivities are handed out the same way when they do not ask for the stored
activity (graph.resolvers.mutations): the same Collector, a Precompiled list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    is_abstract_type,
    is_object_type,
    value_from_ast,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from geo.page_json import Const, EdgeShape, Shape
from graph.context import Info

# GraphQL type -> (geo.page_json kind, its relations: field -> (kind, GraphQL type))
TYPES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "Activity": ("activity", {"staff": ("staff", "Staff"), "area": ("area", "Area"),
                              "flagDetails": ("flag", "FlagDetail")}),
    "Staff": ("staff", {"unit": ("unit", "Unit")}),
    "Unit": ("unit", {}),
    "Area": ("area", {}),
    "FlagDetail": ("flag", {}),
}
IDENTITY = frozenset({"name", "nip"})   # Staff fields only some callers may read


@dataclass(frozen=True)
class Precompiled:
    """A field's finished value (JSON with orjson Fragments): returned as it is."""

    value: Any


class CompilingExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's, except that a Precompiled result is not walked field by field."""

    def complete_value(self, return_type: Any, field_details_list: Any, info: Any, path: Any,
                       result: Any, *rest: Any) -> Any:
        if isinstance(result, Precompiled):
            return result.value
        return super().complete_value(return_type, field_details_list, info, path, result,
                                      *rest)


@dataclass(frozen=True)
class Edges:
    """One `edges` response key: its edge's keys in order, each "cursor", "__typename" or the
    index of a node shape in Plan.shapes."""

    fields: tuple[tuple[str, str | int], ...]


def edge_values(edge: Edges, cursor: str, nodes: Sequence[Any]) -> dict[str, Any]:
    """One edge's answer: its cursor, its type name, its node (Fragments of nodes' JSON)."""
    return {k: nodes[what] if isinstance(what, int) else cursor if what == "cursor"
            else "ActivityEdge" for k, what in edge.fields}


class Unplannable(Exception):
    """A @skip or @include met while collecting without variables (graph.fastpath)."""


@dataclass(frozen=True)
class Plan:
    edges: dict[str, Edges]          # by response key
    shapes: tuple[Shape, ...]        # the node objects the page's statement writes
    identifies: bool                 # a staff member's name or NIP is asked somewhere
    located: frozenset[str]          # the edges keys whose nodes select `location`

    def edge_shapes(self) -> list[EdgeShape]:
        """Each edges key's edge as geo.page_json writes it whole, in `edges` order."""
        return [tuple((k, Const("ActivityEdge") if w == "__typename" else
                       self.shapes[w] if isinstance(w, int) else w) for k, w in e.fields)
                for e in self.edges.values()]


class Collector:
    """graphql-core's CollectFields: response key -> its field nodes, in order.

    `variables` None: the selection is collected for every request of a document
    (graph.fastpath), so a @skip or @include, which depends on them, makes it uncompilable.
    """

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 variables: dict[str, Any] | None) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    @classmethod
    def of(cls, info: Info) -> Collector:
        raw = info._raw_info
        return cls(raw.schema, raw.fragments, info.variable_values)

    def _included(self, node: Any) -> bool:
        for d in node.directives or ():
            name = d.name.value
            if name not in ("skip", "include"):
                continue
            if self.variables is None:
                raise Unplannable
            arg = next((a for a in d.arguments if a.name.value == "if"), None)
            value = value_from_ast(arg.value, GraphQLBoolean, self.variables) if arg else None
            if (name == "skip" and value is True) or (name == "include" and value is not True):
                return False
        return True

    def _applies(self, condition: Any, type_name: str) -> bool:
        if condition is None or condition.name.value == type_name:
            return True
        cond, obj = self.schema.get_type(condition.name.value), self.schema.get_type(type_name)
        return (cond is not None and is_abstract_type(cond) and is_object_type(obj)
                and self.schema.is_sub_type(cond, obj))  # type: ignore[arg-type]

    def collect(self, type_name: str, sets: Iterable[SelectionSetNode | None],
                into: dict[str, list[FieldNode]] | None = None,
                seen: set[str] | None = None) -> dict[str, list[FieldNode]]:
        fields = {} if into is None else into
        seen = set() if seen is None else seen
        for selection_set in sets:
            for sel in selection_set.selections if selection_set else ():
                if not self._included(sel):
                    continue
                if isinstance(sel, FieldNode):
                    key = sel.alias.value if sel.alias else sel.name.value
                    fields.setdefault(key, []).append(sel)
                elif isinstance(sel, InlineFragmentNode):
                    if self._applies(sel.type_condition, type_name):
                        self.collect(type_name, [sel.selection_set], fields, seen)
                elif isinstance(sel, FragmentSpreadNode):
                    name = sel.name.value
                    frag = self.fragments.get(name)
                    if name in seen or frag is None:
                        continue
                    seen.add(name)
                    if self._applies(frag.type_condition, type_name):
                        self.collect(type_name, [frag.selection_set], fields, seen)
        return fields

    def shape(self, type_name: str, nodes: Sequence[FieldNode]) -> tuple[Shape, bool] | None:
        """The Shape of `nodes`' merged selection on `type_name`, and whether it asks for a
        name or NIP; None when a field cannot be compiled."""
        try:
            return self._shape(type_name, nodes)
        except Unplannable:
            return None

    def _shape(self, type_name: str, nodes: Sequence[FieldNode]) -> tuple[Shape, bool] | None:
        kind, relations = TYPES[type_name]
        fields: list[tuple[str, str | Const | Shape]] = []
        identifies = False
        for key, fnodes in self.collect(type_name, [n.selection_set for n in nodes]).items():
            name = fnodes[0].name.value
            if any(n.arguments for n in fnodes):
                return None
            if name == "__typename":
                fields.append((key, Const(type_name)))
            elif name in relations:
                sub_kind, sub_type = relations[name]
                sub = self._shape(sub_type, fnodes)
                if sub is None:
                    return None
                fields.append((key, sub[0]))
                identifies |= sub[1]
            else:
                fields.append((key, name))
                identifies |= type_name == "Staff" and name in IDENTITY
        shape = Shape(kind, tuple(fields))
        return (shape, identifies) if shape.compilable() else None


def plan(info: Info, connection_type: str) -> Plan | None:
    """How to answer this connection field's `edges` from SQL; None: resolve it."""
    return plan_of(Collector.of(info), connection_type, info._raw_info.field_nodes)


def plan_of(c: Collector, connection_type: str, field_nodes: Sequence[FieldNode]) -> Plan | None:
    """`plan` of the connection field `field_nodes`, collected by `c`. Raises Unplannable
    where a collector without variables (graph.fastpage's) meets a @skip or @include."""
    edges: dict[str, Edges] = {}
    shapes: list[Shape] = []
    identifies = False
    located: set[str] = set()
    roots = [n.selection_set for n in field_nodes]
    for key, nodes in c.collect(connection_type, roots).items():
        if nodes[0].name.value != "edges":
            continue
        edge: list[tuple[str, str | int]] = []
        for ekey, enodes in c.collect("ActivityEdge", [n.selection_set for n in nodes]).items():
            name = enodes[0].name.value
            if name != "node":
                edge.append((ekey, name))       # cursor, __typename
                continue
            found = c.shape("Activity", enodes)
            if found is None:
                return None
            shape, asks_identity = found
            identifies |= asks_identity
            if any(w == "location" for _, w in shape.fields):
                located.add(key)
            edge.append((ekey, len(shapes)))
            shapes.append(shape)
        edges[key] = Edges(tuple(edge))
    if not edges:
        return None
    return Plan(edges, tuple(shapes), identifies, frozenset(located))
