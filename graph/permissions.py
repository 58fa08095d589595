"""Who may read and write what: the one place that decides, for GraphQL and for tiles.

Two layers, both here:

- A rule for every root field (`RULES`), every tile layer (`TILE_RULES`) and every route
  (`ROUTES`), checked before anything runs. `protect()` puts a `Guard` on every root field of
  the schema, and a field without a rule is refused, so no field can be added unprotected.
- Scoping inside the resolvers, for what a rule cannot say alone: `records()` narrows reads of
  individual activities (staff: their own; supervisors: the staff of their unit and every unit
  below it), `aggregates()` narrows figures (staff and supervisors: their unit's subtree;
  planners and the public: the city, never one person's), `min_staff()` says below how many
  distinct staff the staff-identifying figures of an aggregate are suppressed, and
  `may_identify()` who sees a NIP and a name.

Without a token only the public routes, the schema, and aggregates at the configured public
level (JANGKAU_PUBLIC_LEVEL) or coarser are served.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from starlette.routing import BaseRoute, Route, WebSocketRoute
from strawberry.extensions import FieldExtension
from strawberry.types.base import get_object_definition

from geo import people
from geo.activities import ActivityRow
from geo.filters import ActivityFilter, unit_ids
from geo.people import StaffRow, Subtree
from geo.settings import PUBLIC_LEVELS, Settings
from graph.auth import ROLES, Forbidden, Principal, Unauthenticated
from graph.context import Context

STAFF, SUPERVISOR, PLANNER, ADMIN = ROLES
EVERYONE = frozenset(ROLES)
RECORD_READERS = frozenset({STAFF, SUPERVISOR, ADMIN})
REVIEWERS = frozenset({SUPERVISOR, ADMIN})
ADMINS = frozenset({ADMIN})
# Roles that see every figure of the aggregates they may read: the others (and the public) get
# those of fewer than k distinct staff suppressed.
SEE_SMALL_CELLS = frozenset({SUPERVISOR, ADMIN})


@dataclass(frozen=True)
class Rule:
    """Who may call at all; `public`: also without a token, at the public level or coarser."""

    roles: frozenset[str]
    public: bool = False


RULES: dict[str, Rule] = {
    "Query.area": Rule(EVERYONE),
    "Query.areas": Rule(EVERYONE),
    "Query.coverage": Rule(EVERYONE, public=True),
    "Query.coverageMap": Rule(EVERYONE, public=True),
    "Query.hexbins": Rule(EVERYONE),
    "Query.reach": Rule(EVERYONE),
    "Query.gaps": Rule(EVERYONE),
    "Query.nearestActivities": Rule(RECORD_READERS),
    "Query.activities": Rule(RECORD_READERS),
    "Query.activity": Rule(RECORD_READERS),
    "Query.flaggedActivities": Rule(REVIEWERS),
    "Query.staff": Rule(RECORD_READERS),
    "Query.units": Rule(EVERYONE),
    "Query.serviceCategories": Rule(EVERYONE),
    "Query.indicators": Rule(EVERYONE),
    "Query.accessLog": Rule(ADMINS),
    "Mutation.recordActivity": Rule(RECORD_READERS),
    "Mutation.recordActivities": Rule(RECORD_READERS),
    "Mutation.setTarget": Rule(ADMINS),
    "Mutation.resolveFlags": Rule(REVIEWERS),
    "Subscription.activityRecorded": Rule(RECORD_READERS),
    "Subscription.coverageChanged": Rule(EVERYONE, public=True),
}
TILE_RULES: dict[str, Rule] = {
    "areas": Rule(EVERYONE, public=True),
    "activities": Rule(RECORD_READERS),
}
NEEDS_TOKEN = "needs a bearer token (Authorization: Bearer ...)"
PUBLIC = "public"
ROUTES: dict[str, str] = {
    "/healthz": PUBLIC,
    "/readyz": PUBLIC,
    "/": PUBLIC,                                # the map page and its static files
    "/static/{name}": PUBLIC,
    "/vendor/maplibre-gl/{name}": PUBLIC,
    "/graphql": "RULES",                        # the schema (introspection) is public
    "/tiles/{layer}.json": "TILE_RULES",
    "/tiles/{layer}/{z}/{x}/{y}.mvt": "TILE_RULES",
}


def check_routes(routes: Iterable[BaseRoute]) -> None:
    """Refuse to build an app with a route nobody declared a rule for."""
    undeclared = [getattr(r, "path", repr(r)) for r in routes
                  if not isinstance(r, Route | WebSocketRoute) or r.path not in ROUTES]
    if undeclared:
        raise RuntimeError(f"routes without an access rule in graph.permissions.ROUTES: "
                           f"{undeclared}")


def is_public(settings: Settings, level: str | None) -> bool:
    lv = settings.public_level
    return lv is not None and level in PUBLIC_LEVELS and \
        PUBLIC_LEVELS.index(level) <= PUBLIC_LEVELS.index(lv)


def require_public(settings: Settings, level: str | None, what: str) -> None:
    """Without a token: figures of areas at the public level or coarser, nothing else."""
    if is_public(settings, level):
        return
    lv = settings.public_level
    hint = f"; without one only {lv} figures and coarser are served" if lv else ""
    raise Unauthenticated(f"{what} {NEEDS_TOKEN}{hint}")


def check(rule: Rule, principal: Principal | None, settings: Settings, what: str,
          level: str | None = None) -> None:
    """The rule's verdict: UNAUTHENTICATED without a token, FORBIDDEN for another role."""
    if principal is None:
        if not rule.public:
            raise Unauthenticated(f"{what} {NEEDS_TOKEN}")
        require_public(settings, level, what)
        return
    if principal.role not in rule.roles:
        raise Forbidden(f"the {principal.role} role may not use {what}")


def _level(kwargs: dict[str, Any]) -> str | None:
    level = kwargs.get("level")
    return getattr(level, "value", level)


class Guard(FieldExtension):
    """The rule of a root field, before its resolver: fails closed when there is none."""

    def _check(self, info: Any, kwargs: dict[str, Any]) -> None:
        rule = RULES.get(f"{info.path.typename}.{info.field_name}")
        if rule is None:
            raise Forbidden(f"{info.field_name} has no access rule, so nobody may use it")
        ctx: Context = info.context
        check(rule, ctx.principal, ctx.settings, info.field_name, _level(kwargs))

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        self._check(info, kwargs)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any,
                            **kwargs: Any) -> Any:
        self._check(info, kwargs)
        result = next_(source, info, **kwargs)
        # A subscription's resolver is an async generator: handed on, not awaited.
        return await result if inspect.isawaitable(result) else result


def protect(*root_types: type) -> None:
    """Put the Guard on every field of the root types."""
    for t in root_types:
        for f in get_object_definition(t, strict=True).fields:
            if not any(isinstance(e, Guard) for e in f.extensions):
                f.extensions.append(Guard())


def _caller(ctx: Context) -> Principal:
    if ctx.principal is None:
        raise Unauthenticated(f"this {NEEDS_TOKEN}")
    return ctx.principal


async def subtree(ctx: Context) -> Subtree:
    """The caller's unit and the units below it, with their staff: read once a request."""
    unit = _caller(ctx).unit

    async def read() -> Subtree:
        found = None
        if unit is not None:
            async with ctx.db() as conn:
                found = await people.subtree(conn, unit)
        if found is None:
            raise Forbidden(f"the token's unit {unit!r:.40} is not a unit here")
        return found

    return await ctx.once("subtree", read)


async def _units_of(ctx: Context, code: str) -> frozenset[int]:
    async def read() -> frozenset[int]:
        async with ctx.db() as conn:
            return frozenset(await unit_ids(conn, code))

    return await ctx.once(("unit", code), read)


def _own_only(p: Principal, staff_id: uuid.UUID | None) -> None:
    if staff_id is not None and staff_id != p.staff_id:
        raise Forbidden("staff see their own activities only: filter.staffId must be yours")


async def _within_unit(ctx: Context, f: ActivityFilter) -> ActivityFilter:
    """`f` narrowed to the staff of the caller's unit subtree; naming anyone outside is
    FORBIDDEN."""
    tree = await subtree(ctx)
    unit = _caller(ctx).unit
    if f.staff_id is not None and f.staff_id not in tree.staff:
        raise Forbidden(f"staff {f.staff_id} is not in unit {unit} or a unit below it")
    if f.unit_code is not None and not await _units_of(ctx, f.unit_code) <= tree.units:
        raise Forbidden(f"unit {f.unit_code!r:.40} is outside unit {unit} and the units "
                        "below it")
    return replace(f, staff_ids=tree.staff)


async def records(ctx: Context, f: ActivityFilter) -> ActivityFilter:
    """A filter of individual activities, narrowed to those the caller may read."""
    p = _caller(ctx)
    if p.role == ADMIN:
        return f
    if p.role == STAFF:
        _own_only(p, f.staff_id)
        assert p.staff_id is not None     # a staff token's sub is a UUID (graph.auth)
        return replace(f, staff_ids=frozenset({p.staff_id}))
    if p.role == SUPERVISOR:
        return await _within_unit(ctx, f)
    raise Forbidden("planners see aggregates only, never an individual activity")


async def check_record(ctx: Context, row: ActivityRow) -> None:
    """One activity named by id: its staff member, their supervisors, or an admin."""
    p = _caller(ctx)
    if p.role == ADMIN or row.staff_id == p.staff_id:
        return
    if p.role == SUPERVISOR and row.staff_id in (await subtree(ctx)).staff:
        return
    raise Forbidden(f"activity {row.id} is not one you may read")


async def check_review(ctx: Context, row: ActivityRow) -> str:
    """Who decides on `row`'s flags: a supervisor of its staff member's unit or above (never
    of their own activity), or an admin. Returns the reviewer to record."""
    p = _caller(ctx)
    if p.role == SUPERVISOR and row.staff_id == p.staff_id:
        raise Forbidden("flags on your own activity are decided by your supervisor")
    if p.role != ADMIN:
        await check_record(ctx, row)
    return p.sub


async def aggregates(ctx: Context, f: ActivityFilter | None,
                     level: str | None = None) -> ActivityFilter | None:
    """A filter of figures, narrowed to what the caller may see; `level` is the areas' level,
    which the public may read at JANGKAU_PUBLIC_LEVEL or coarser."""
    p = ctx.principal
    if p is None:
        require_public(ctx.settings, level, "these figures")
    if p is None or p.role == PLANNER:
        if f is not None and f.staff_id is not None:
            raise Forbidden("figures of one staff member are for them and their supervisors")
        return f
    if p.role == ADMIN:
        return f
    f = f or ActivityFilter()
    if p.role == STAFF:
        _own_only(p, f.staff_id)
    return await _within_unit(ctx, f)


def min_staff(ctx: Context) -> int:
    """Aggregates built from fewer distinct staff than this show no staff-identifying figure
    (distinct staff, time of the last activity); 0 when the caller sees them all."""
    p = ctx.principal
    return 0 if p is not None and p.role in SEE_SMALL_CELLS else ctx.settings.k_anonymity


async def may_identify(ctx: Context, staff: StaffRow) -> bool:
    """A NIP and a name: for admins, the person, and their supervisors only."""
    p = ctx.principal
    if p is None:
        return False
    if p.role == ADMIN or p.staff_id == staff.id:
        return True
    return p.role == SUPERVISOR and staff.id in (await subtree(ctx)).staff


def may_record(ctx: Context, staff_id: object) -> bool:
    """Staff and supervisors record their own activities; admins anyone's."""
    p = _caller(ctx)
    if p.role == ADMIN:
        return True
    try:
        return uuid.UUID(str(staff_id)) == p.staff_id
    except ValueError:
        return True     # not a UUID: the input check refuses it with BAD_USER_INPUT


def note_reads(ctx: Context, what: str, rows: Iterable[ActivityRow]) -> None:
    """Activities of others that `what` read: for the access log."""
    if ctx.ledger is not None:
        ctx.ledger.note(what, ((r.id, r.staff_id) for r in rows))
