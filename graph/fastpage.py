"""Pages answered without the executor: `activities` in one statement (issue 13).

A page whose document asks for nothing else paid, on top of its statement, the executor's walk
(extensions' hooks, the Guard, the resolvers of the connection and of pageInfo) and then a
second round trip and commit for its access-log journal row, with the ledger's grouping in
Python. For a document whose operation is one `activities` field (`filter`, `first`, `after`)
selecting `edges` that graph.compile writes, `pageInfo` and `__typename`, graph.fastpath answers
here:

- The page is planned once per document (graph.fastpath: parsed and validated with the app's
  rules); per request the variables are coerced and the arguments read by graphql-core's and
  strawberry's own functions, and the filter, the caller's rule, `first`, the cursor and the
  narrowing are decided by the functions the resolver calls (graph.permissions). Any error
  there, a name or NIP the caller may not see for everyone, or a server with read replicas,
  and the executor answers the request instead, as it always did.
- One statement writes the edges (geo.page_json.edges) and, from the same rows, the request's
  access-log journal row (`Journal`: what the ledger would have noted, grouped by PostgreSQL,
  a row of `access_log_pages`), committed before the answer leaves: the access log's guarantee
  unchanged (docs/SECURITY.md). The access writer then writes it out with the rest, off the
  answer's path.

tests/test_compiled.py runs every page query both ways (this path and the resolvers) and
compares answers and access-log rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.execution.values import get_argument_values, get_variable_values
from starlette.requests import Request
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments

from geo import page_json
from geo.activities import generic
from geo.errors import JangkauError
from geo.filters import where_of
from graph import permissions
from graph.auth import Principal
from graph.compile import Collector, Plan, plan_of
from graph.context import context_of
from graph.resolvers.activities import ends, newest_after, page_filter, page_info
from graph.resolvers.pagination import check_first

FIELD = "activities"
RULE = permissions.RULES[f"Query.{FIELD}"]
DEFINITION = GraphQLCoreConverter.DEFINITION_BACKREF    # a field's strawberry definition
PAGE_INFO = frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor",
                       "__typename"})


@dataclass(frozen=True)
class Page:
    """How to answer one document's page: its response key, the field and its definition (for
    the arguments), the operation (for the variables), the connection's keys in order (each
    "edges", "pageInfo" with its keys, or "__typename") and the edges' plan."""

    key: str
    node: FieldNode
    definition: GraphQLField
    operation: OperationDefinitionNode
    keys: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
    plan: Plan


def plan_page(c: Collector, schema: GraphQLSchema, operation: OperationDefinitionNode,
              key: str, nodes: list[FieldNode]) -> Page | None:
    """The plan of `activities` under `key`, when its arguments and selection allow; raises
    graph.compile.Unplannable at a @skip or @include."""
    if len(nodes) != 1 or nodes[0].name.value != FIELD or nodes[0].directives:
        return None
    if any(a.name.value not in ("first", "after", "filter") for a in nodes[0].arguments or ()):
        return None
    keys: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
    for k, fnodes in c.collect("ActivityConnection", [nodes[0].selection_set]).items():
        name = fnodes[0].name.value
        if name == "pageInfo":
            info = c.collect("PageInfo", [n.selection_set for n in fnodes])
            fields = tuple((ik, inodes[0].name.value) for ik, inodes in info.items())
            if any(f not in PAGE_INFO for _, f in fields):
                return None
            keys.append((k, name, fields))
        elif name in ("edges", "__typename"):
            keys.append((k, name, ()))
        else:
            return None     # totalCount: resolved
    edges = plan_of(c, "ActivityConnection", nodes)
    query = schema.query_type
    if edges is None or query is None:
        return None
    return Page(key, nodes[0], query.fields[FIELD], operation, tuple(keys), edges)


async def answer(page: Page, schema: GraphQLSchema, request: Request, principal: Principal,
                 variables: dict[str, Any]) -> Any:
    """The page's value (orjson Fragments inside), or None: the executor answers."""
    coerced = get_variable_values(schema, page.operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        return None
    ctx = context_of(request)
    if ctx.replicated:
        return None     # the journal is the primary's; the executor reads a replica
    try:
        # The arguments as strawberry hands them to the resolver (its input classes).
        strawberry = schema._strawberry_schema  # type: ignore[attr-defined]
        args = convert_arguments(get_argument_values(page.definition, page.node, coerced),
                                 page.definition.extensions[DEFINITION].arguments,
                                 strawberry.schema_converter.scalar_registry, strawberry.config)
        permissions.check(RULE, principal, ctx.settings, FIELD, RULE.level)
        n = check_first(args.get("first"), ctx.settings.max_first)
        after = args.get("after")
        keyset = newest_after(after)
        f = await permissions.records(ctx, page_filter(args.get("filter"), ctx.settings))
        where = where_of(f, await permissions.ids(ctx, f))
        if page.plan.identifies and not await permissions.identifies_all(ctx, f):
            return None
    except (JangkauError, GraphQLError, ValueError, TypeError):
        return None     # the executor answers with its coded error
    # What the resolvers note: the page under the root field's name, and under
    # Activity.location when a node selects it (graph.resolvers.activities).
    # Nothing to note when the caller can only read their own.
    fields = sorted({FIELD} | ({"Activity.location"} if page.plan.located else set()))
    journal = None if f.staff_ids is not None and f.staff_ids <= {principal.staff_id} else \
        page_json.Journal(principal.sub, principal.role, principal.staff_id, tuple(fields))
    # The primary either way (no replicas here): its sessions that plan generically when the
    # page's plan does not depend on its values, in one round trip.
    connection = ctx.primary_generic if generic(where) else ctx.read
    async with connection() as conn:
        found = await page_json.edges(conn, where, n, keyset, page.plan.edge_shapes(), journal)
    if journal is not None and found.ids:
        ctx.access_writer.expand_soon()
    edges = dict(zip(page.plan.edges, found.edges, strict=True))
    pi = page_info(ends(found), found.more, after)
    info = {"hasNextPage": pi.has_next_page, "hasPreviousPage": pi.has_previous_page,
            "startCursor": pi.start_cursor, "endCursor": pi.end_cursor, "__typename": "PageInfo"}
    value: dict[str, Any] = {}
    for k, name, sub in page.keys:
        if name == "edges":
            value[k] = orjson.Fragment(edges[k])
        elif name == "pageInfo":
            value[k] = {ik: info[field] for ik, field in sub}
        else:
            value[k] = "ActivityConnection"
    return value
