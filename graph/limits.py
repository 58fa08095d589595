"""The guards every GraphQL operation passes before it runs: tokens, depth, aliases and cost.

Each limit is a setting (`JANGKAU_MAX_TOKENS`, `_DEPTH`, `_ALIASES`, `_COST`) and a refusal is
a request error coded QUERY_TOO_COMPLEX whose message names the setting. The token limit is
graphql-core's parser option, set by strawberry's MaxTokensLimiter; depth and aliases are
strawberry's own validators, run inside one rule (`guard_rule`) that recodes what they report;
the cost is graph.cost's. Strawberry raises bare GraphQL errors, so each is given its code
here. Introspection can be turned off (`JANGKAU_INTROSPECTION=0`) and, in production, only
persisted queries allowed (graph.persisted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from geo.settings import Settings
from graph.cost import Caps, operation_cost
from graph.persisted import PersistedOnly, PersistedQueries

TOO_COMPLEX = "QUERY_TOO_COMPLEX"


def too_complex(message: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": TOO_COMPLEX})


def unfolded_size(document: DocumentNode) -> int:
    """Fields in the document once every fragment spread is replaced by its fragment.

    A fragment's size is counted once and reused, so this is linear in the text, while the
    unfolded query can be exponential in it (each fragment spreading the next twice).
    """
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    sizes: dict[str, int] = {}

    def size(sel: SelectionSetNode, visiting: frozenset[str]) -> int:
        n = 0
        for node in sel.selections:
            if isinstance(node, FieldNode):
                n += 1 + (size(node.selection_set, visiting) if node.selection_set else 0)
            elif isinstance(node, InlineFragmentNode):
                n += size(node.selection_set, visiting)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name in fragments and name not in visiting:  # a cycle is another rule's
                    if name not in sizes:
                        sizes[name] = size(fragments[name].selection_set, visiting | {name})
                    n += sizes[name]
        return n

    return sum(size(d.selection_set, frozenset()) for d in document.definitions
               if isinstance(d, OperationDefinitionNode))


def _first_error(rule: type[ValidationRule], context: ValidationContext) -> GraphQLError | None:
    """What strawberry's `rule` reports first; it judges the whole document when built."""
    found: list[GraphQLError] = []
    rule(ValidationContext(context.schema, context.document, TypeInfo(context.schema),
                           found.append))
    return found[0] if found else None


def guard_rule(settings: Settings) -> type[ValidationRule]:
    """One rule for the limits on a document, cheapest first, each refusal naming its setting.

    Strawberry's depth and alias validators walk the query with its fragments unfolded, which
    can be exponential in the text; so they run only on a document whose unfolded size is
    within max_tokens (the token budget, applied to the query as it will be executed).
    """
    caps = Caps(max_first=settings.max_first, max_batch=settings.max_batch,
                max_period_days=settings.max_period_days)
    strawberry_rules = [
        (depth_validator(settings.max_depth, None), "max_depth", settings.max_depth),
        (aliases_validator(settings.max_aliases), "max_aliases", settings.max_aliases),
    ]

    class Guard(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            try:
                self._judge(context)
            except RecursionError:
                context.report_error(too_complex(
                    f"the query nests too deeply to be checked (max_depth = {settings.max_depth})"))

        def _judge(self, context: ValidationContext) -> None:
            if unfolded_size(context.document) > settings.max_tokens:
                context.report_error(too_complex(
                    f"the query unfolds through its fragments to more than "
                    f"{settings.max_tokens:,} fields (max_tokens = {settings.max_tokens:,})"))
                return
            for rule, setting, limit in strawberry_rules:
                error = _first_error(rule, context)
                if error is not None:
                    context.report_error(too_complex(f"{error.message} ({setting} = {limit:,})",
                                                     error.nodes))
                    return
            for op in context.document.definitions:
                if isinstance(op, OperationDefinitionNode):
                    self._price(context, op)

        def _price(self, context: ValidationContext, op: OperationDefinitionNode) -> None:
            cost = operation_cost(context, op, caps)
            if cost > settings.max_cost:
                name = f"'{op.name.value}'" if op.name else "the operation"
                context.report_error(too_complex(
                    f"{name} costs {cost:,.0f}, more than max_cost = {settings.max_cost:,} "
                    "(each object asked for counts 1, a list multiplies by its expected "
                    "length, 10 geometry vertices count 1): ask for fewer items, a coarser "
                    "level or a lower zoom", [op]))

    return Guard


class Tokens(MaxTokensLimiter):
    """graphql-core stops parsing at the limit with a syntax error: it becomes a coded refusal."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield from super().on_operation()
        except GraphQLSyntaxError as exc:
            if "tokens. Parsing aborted" not in exc.message:
                raise
            raise too_complex(f"the query has more than {self.max_token_count:,} tokens "
                              f"(max_tokens = {self.max_token_count:,})") from None


def rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The limits as validation rules, made once an app: the validation cache recognises them,
    and graph.fastpath validates with the same ones."""
    return [guard_rule(settings)]


def extensions(settings: Settings,
               rules: list[type[ASTValidationRule]]) -> list[Callable[[], SchemaExtension]]:
    """The guards for `settings` (its `rules`), as factories (one fresh extension per request).

    The persisted-query map is read here, so a bad one stops the app from starting.
    """
    guards: list[Callable[[], SchemaExtension]] = []
    if settings.persisted_queries is not None:
        persisted = PersistedQueries.load(settings.persisted_queries)
        guards.append(lambda: PersistedOnly(persisted))
    guards += [lambda: Tokens(max_token_count=settings.max_tokens),
               lambda: AddValidationRules(rules)]
    if not settings.introspection:
        guards.append(DisableIntrospection)
    return guards
