"""Lookups answered without the executor: `activity(id)` at the cost of its SQL (issue 13).

A lookup by id is the smallest request there is, and graphql-core's execution of it (the
extensions' hooks, the resolver, the DataLoader, a permission check, the field-by-field walk)
cost several times the statement. For a document whose operation is one `activity(id: ...)`
and nothing else, with a selection `graph.compile` can write in SQL, the answer is planned once
per document and then one statement writes the activity's JSON (with those of the lookups
other requests ask at the same time):

- The plan is made once per (query text, operation name), with graphql-core's parser and the
  schema's own validation rules plus the app's limits (graph.limits.rules), so a document that
  is not valid is never answered here: the executor answers it with its coded errors.
- The request is answered here only when nothing can differ from the executor's answer: a POST
  of JSON without `extensions` (persisted queries go the usual way), a caller who may read any
  activity (an admin without an area-confined key) or whose own activity it is, a name or NIP
  only when they may identify its staff member (the same), no @skip/@include, an id that is a
  UUID. Anything else — no token, a supervisor's subtree, a refusal — goes to the executor,
  which answers as it always did (a read repeated there costs nothing worth saving). A
  database that fails the statement is the coded outage, as the executor would answer it.
- The access log gets what the resolvers note ("activity", and "Activity.location" when the
  location is selected), committed before the answer leaves: the lookups of concurrent
  requests are read and journaled by one statement (geo.lookups).
- Servers with read replicas send lookups to the executor, as they send pages: the journal
  is the primary's, and reads are the replicas' to answer.

JANGKAU_COMPILE_PAGES=0 turns this off with the compiled pages. tests/test_fastpath.py runs
the lookups of the test suite both ways and compares answers, headers and access-log rows.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    ASTValidationRule,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
    parse,
    specified_rules,
    validate,
)
from graphql.language import FragmentDefinitionNode
from starlette.requests import Request
from starlette.responses import Response

from geo import page_json
from geo.access_log import Reader
from geo.lookups import Asked, Lookups
from geo.settings import Settings
from graph.auth import Principal
from graph.compile import Collector, Unplannable
from graph.fastpage import Page, plan_page
from graph.fastpage import answer as answer_page
from graph.permissions import ADMIN, RULES

READERS = RULES["Query.activity"].roles
PLANS = 256       # documents remembered, as strawberry's parser and validation caches
GRAPHQL_RESPONSE = "application/graphql-response+json"
NULL = orjson.Fragment(b"null")     # a lookup of an activity there is not


@dataclass(frozen=True)
class Lookup:
    """How to answer one document: the response key, where the id comes from (a variable's
    name or the literal), the SQL writing the node's JSON (geo.lookups), and the fields the
    access log notes it under, sorted as the ledger sorts them."""

    key: str
    variable: str | None
    literal: str | None
    sql: str
    fields: tuple[str, ...]


class FastPath:
    """Plans by document, and the answer of a request whose document has one."""

    def __init__(self, schema: GraphQLSchema, settings: Settings,
                 rules: list[type[ASTValidationRule]]) -> None:
        self.schema = schema
        self.settings = settings
        self.rules = [*specified_rules, *rules]
        # Persisted-only servers refuse other texts in an extension: they go the usual way.
        self.enabled = settings.compile_pages and settings.persisted_queries is None
        self._plans: OrderedDict[tuple[str, str | None], Lookup | Page | None] = OrderedDict()

    def plan(self, query: str, operation: str | None) -> Lookup | Page | None:
        key = (query, operation)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        found = self._plan(query, operation)
        self._plans[key] = found
        if len(self._plans) > PLANS:
            self._plans.popitem(last=False)
        return found

    def _plan(self, query: str, operation: str | None) -> Lookup | Page | None:
        try:
            document = parse(query, max_tokens=self.settings.max_tokens)
        except GraphQLError:
            return None
        if validate(self.schema, document, self.rules):
            return None
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation is not None:
            ops = [o for o in ops if o.name is not None and o.name.value == operation]
        if len(ops) != 1 or ops[0].operation is not OperationType.QUERY or ops[0].directives:
            return None
        fragments = {d.name.value: d for d in document.definitions
                     if isinstance(d, FragmentDefinitionNode)}
        c = Collector(self.schema, fragments, None)
        try:
            roots = c.collect("Query", [ops[0].selection_set])
        except Unplannable:     # a @skip/@include at the root
            return None
        if len(roots) != 1:
            return None
        (key, nodes), = roots.items()
        try:
            return _lookup(c, key, nodes) or plan_page(c, self.schema, ops[0], key, nodes)
        except Unplannable:     # a @skip/@include in the page's selection
            return None

    async def answer(self, request: Request) -> Response | None:
        """The answer, or None: the executor answers this request."""
        if not self.enabled or request.method != "POST" or \
                request.headers.get("content-type", "").split(";")[0].strip() != \
                "application/json":
            return None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(body, dict) or body.get("extensions") is not None or \
                not isinstance(body.get("query"), str):
            return None
        operation, variables = body.get("operationName"), body.get("variables") or {}
        if not isinstance(operation, str | None) or not isinstance(variables, dict):
            return None
        found = self.plan(body["query"], operation)
        principal = getattr(request.state, "principal", None)
        if found is None or principal is None:
            return None
        if isinstance(found, Page):
            value = await answer_page(found, self.schema, request, principal, variables)
        else:
            value = await _answer_lookup(found, request, principal, variables)
        if value is None:
            return None
        asked = GRAPHQL_RESPONSE in request.headers.get("accept", "")
        return Response(orjson.dumps({"data": {found.key: value}}),
                        media_type=GRAPHQL_RESPONSE if asked else "application/json")


async def _answer_lookup(found: Lookup, request: Request, principal: Principal,
                         variables: dict[str, Any]) -> Any:
    """The activity's value (JSON null when there is none), or None: the executor answers."""
    if principal.role not in READERS or principal.key_areas or principal.areas:
        return None
    raw = found.literal if found.variable is None else variables.get(found.variable)
    try:
        activity_id = uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if activity_id is None:
        return None
    lookups: Lookups | None = request.app.state.lookups
    if lookups is None:
        return None     # a server with replicas: the executor reads one
    # An admin is logged as reading another person's activity, as the resolver notes it; the
    # others are answered here about their own only, which is not logged.
    reader = Reader(principal.sub, principal.role, principal.staff_id) \
        if principal.role == ADMIN else None
    row = await lookups.read(found.sql, found.fields, Asked(activity_id, reader))
    if row is None:
        return NULL
    if principal.role != ADMIN and row.staff_id != principal.staff_id:
        return None     # a supervisor's subtree, or a refusal: the executor's
    return orjson.Fragment(row.json)


def _lookup(c: Collector, key: str, nodes: list[FieldNode]) -> Lookup | None:
    """The plan of `activity(id: ...)` under `key`, when its selection compiles."""
    if len(nodes) != 1 or nodes[0].name.value != "activity":
        return None
    args = nodes[0].arguments or ()
    if len(args) != 1 or args[0].name.value != "id" or nodes[0].directives:
        return None
    value = args[0].value
    if isinstance(value, VariableNode):
        variable, literal = value.name.value, None
    elif isinstance(value, StringValueNode):
        variable, literal = None, value.value
    else:
        return None
    shaped = c.shape("Activity", nodes)
    if shaped is None:
        return None
    # A name or NIP needs no check of its own: only an admin or the person is answered here.
    shape = shaped[0]
    # What the resolvers note: the activity, and its location when it is selected.
    located = any(w == "location" for _, w in shape.fields)
    return Lookup(key, variable, literal, page_json.lookup_sql(shape),
                  ("Activity.location", "activity") if located else ("activity",))
