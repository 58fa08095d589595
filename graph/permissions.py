"""Who may read and write what: the one place that decides, for GraphQL, tiles and /ogc.

Two layers, both here:

- A rule for every root field (`RULES`; the exports use their field's), every tile layer
  (`TILE_RULES`), every OGC collection (`OGC_RULES`) and every route (`ROUTES`), checked before
  anything runs. `protect()` puts a `Guard` on every root field of the schema, and a field
  without a rule is refused, so no field can be added unprotected. An API key is read-only: no
  mutation.
- Scoping inside the resolvers, for what a rule cannot say alone: `records()` narrows reads of
  individual activities (staff: their own; supervisors: the staff of their unit and every unit
  below it), `aggregates()` narrows figures (staff and supervisors: their unit's subtree, with
  attainment of their units' indicators; a supervisor whose token carries `areas`: every
  unit's activity inside those areas; planners and the public: the city, never one person's),
  `min_staff()` says below how many distinct staff the staff-identifying figures of an
  aggregate are suppressed, `team()` whose team a caller may see, `check_target()` who sets
  which target, and `may_identify()` who sees a NIP and a name.

Without a token only the public routes, the schema, and aggregates at the configured public
level (JANGKAU_PUBLIC_LEVEL) or coarser are served.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from starlette.routing import BaseRoute, Route, WebSocketRoute
from strawberry.extensions import FieldExtension
from strawberry.types.base import get_object_definition

from geo import areas, people
from geo.activities import ActivityRow
from geo.filters import ActivityFilter, Ids, codes_of, resolve
from geo.people import StaffRow, Subtree
from geo.settings import PUBLIC_LEVELS, Settings
from graph.auth import ROLES, Forbidden, Principal, Unauthenticated
from graph.context import Context

STAFF, SUPERVISOR, PLANNER, ADMIN = ROLES
EVERYONE = frozenset(ROLES)
RECORD_READERS = frozenset({STAFF, SUPERVISOR, ADMIN})
REVIEWERS = frozenset({SUPERVISOR, ADMIN})
OWNERS = frozenset({STAFF, SUPERVISOR})     # roles that have records of their own
ADMINS = frozenset({ADMIN})
# Roles that see every figure of the aggregates they may read: the others (and the public) get
# those of fewer than k distinct staff suppressed.
SEE_SMALL_CELLS = frozenset({SUPERVISOR, ADMIN})


@dataclass(frozen=True)
class Rule:
    """Who may call at all; `public`: also without a token, at the public level or coarser;
    `reference`: names and codes without figures, for anyone whenever the server publishes
    figures at all (the public map needs them to name what it shows); `level`: the level of
    the figures of a field that takes no `level` argument."""

    roles: frozenset[str]
    public: bool = False
    reference: bool = False
    level: str | None = None


RULES: dict[str, Rule] = {
    "Query.area": Rule(EVERYONE),
    "Query.areas": Rule(EVERYONE, reference=True),
    "Query.coverage": Rule(EVERYONE, public=True),
    "Query.coverageMap": Rule(EVERYONE, public=True),
    "Query.coverageSeries": Rule(EVERYONE, public=True),
    "Query.hexbins": Rule(EVERYONE),
    "Query.reach": Rule(EVERYONE),
    "Query.gaps": Rule(EVERYONE),
    "Query.lastActivityDate": Rule(EVERYONE, public=True, level="CITY"),
    "Query.nearestActivities": Rule(RECORD_READERS),
    "Query.activities": Rule(RECORD_READERS),
    "Query.activity": Rule(RECORD_READERS),
    "Query.flaggedActivities": Rule(REVIEWERS),
    "Query.staff": Rule(RECORD_READERS),
    "Query.units": Rule(EVERYONE, reference=True),
    "Query.serviceCategories": Rule(EVERYONE, reference=True),
    "Query.indicators": Rule(EVERYONE, reference=True),
    "Query.accessLog": Rule(ADMINS),
    "Query.team": Rule(REVIEWERS),
    "Mutation.recordActivity": Rule(RECORD_READERS),
    "Mutation.recordActivities": Rule(RECORD_READERS),
    "Mutation.setTarget": Rule(REVIEWERS),     # supervisors: their staff's targets only
    "Mutation.setUnitOffice": Rule(ADMINS),
    "Mutation.resolveFlags": Rule(REVIEWERS),
    "Mutation.contestFlags": Rule(OWNERS),
    "Subscription.activityRecorded": Rule(RECORD_READERS),
    "Subscription.coverageChanged": Rule(EVERYONE, public=True),
}
TILE_RULES: dict[str, Rule] = {
    "areas": Rule(EVERYONE, public=True),
    "activities": Rule(RECORD_READERS),
}
OGC_RULES: dict[str, Rule] = {
    "kelurahan": Rule(EVERYONE, public=True),
    "kecamatan": Rule(EVERYONE, public=True),
    "kota": Rule(EVERYONE, public=True),
    "activities": Rule(RECORD_READERS),
}
NEEDS_TOKEN = "needs a bearer token (Authorization: Bearer ...)"
PUBLIC = "public"
ROUTES: dict[str, str] = {
    "/healthz": PUBLIC,
    "/readyz": PUBLIC,
    "/": PUBLIC,                                # the map page and its static files
    "/static/{name}": PUBLIC,
    "/vendor/{package}/{name}": PUBLIC,       # npm-vendored: MapLibre, React, GraphiQL
    "/glyphs/{fontstack}/{range}.pbf": PUBLIC,    # the map's label font
    "/graphql": "RULES",                        # the schema (introspection) is public
    "/tiles/{layer}.json": "TILE_RULES",
    "/tiles/{layer}/{z}/{x}/{y}.mvt": "TILE_RULES",
    "/export/{name}.{fmt}": "RULES",            # each export has its GraphQL field's rule
    "/ogc": PUBLIC,                             # OGC API - Features: landing, API, conformance
    "/ogc/conformance": PUBLIC,
    "/ogc/api": PUBLIC,
    "/ogc/collections": PUBLIC,                 # lists the collections the caller may read
    "/ogc/collections/{collectionId}": "OGC_RULES",
    "/ogc/collections/{collectionId}/items": "OGC_RULES",
    "/ogc/collections/{collectionId}/items/{featureId}": "OGC_RULES",
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
        if rule.reference and settings.public_level is not None:
            return
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
        check(rule, ctx.principal, ctx.settings, info.field_name, _level(kwargs) or rule.level)
        if info.path.typename == "Mutation" and ctx.principal and ctx.principal.read_only:
            raise Forbidden(f"{info.field_name}: an API key is read-only; changes need a "
                            "bearer token")

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


async def ids(ctx: Context, f: ActivityFilter) -> Ids:
    """`f`'s codes as ids (geo.filters.resolve): one statement a request per set of codes,
    however many fields and checks ask."""
    if f.ids is not None and f.ids.fits(f):
        return f.ids
    if codes_of(f) == (None, None, None):
        return Ids(codes_of(f))     # nothing to look up: no connection either

    async def read() -> Ids:
        async with ctx.db() as conn:
            return await resolve(conn, f)

    return await ctx.once(("ids", codes_of(f)), read)


async def with_ids(ctx: Context, f: ActivityFilter) -> ActivityFilter:
    """`f` carrying its ids, so the SQL builders look nothing up again."""
    found = await ids(ctx, f)
    return f if f.ids is found else replace(f, ids=found)


async def _units_of(ctx: Context, f: ActivityFilter) -> frozenset[int]:
    """The units `f.unit_code` names: it and every unit below it."""
    return frozenset((await ids(ctx, f)).units or ())


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
    if f.unit_code is not None and not await _units_of(ctx, f) <= tree.units:
        raise Forbidden(f"unit {f.unit_code!r:.40} is outside unit {unit} and the units "
                        "below it")
    return replace(f, staff_ids=tree.staff)


def _in_areas(p: Principal | None, f: ActivityFilter) -> ActivityFilter:
    """`f` confined to an API key's areas, when the key has any."""
    return replace(f, area_scope=frozenset(p.key_areas)) if p is not None and p.key_areas else f


async def records(ctx: Context, f: ActivityFilter) -> ActivityFilter:
    """A filter of individual activities, narrowed to those the caller may read, with its
    codes resolved (`with_ids`)."""
    return await with_ids(ctx, _in_areas(ctx.principal, await _records(ctx, f)))


async def _records(ctx: Context, f: ActivityFilter) -> ActivityFilter:
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


def check_contest(ctx: Context, row: ActivityRow) -> str:
    """Only the staff member whose record it is may contest its flags (not a supervisor, not
    an admin: they decide). Returns who contests, as the history records it."""
    p = _caller(ctx)
    if p.staff_id is None or row.staff_id != p.staff_id:
        raise Forbidden(f"activity {row.id} is not yours: only its own staff member may "
                        "contest its flags")
    return p.sub


async def _names_own_staff(ctx: Context, f: ActivityFilter) -> bool:
    """Whether `f` asks for the caller's own staff: a unit or a person of their subtree."""
    tree = await subtree(ctx)
    if f.staff_id is not None:
        return f.staff_id in tree.staff
    return f.unit_code is not None and await _units_of(ctx, f) <= tree.units


async def _area_scope(ctx: Context) -> dict[str, str]:
    """Every area inside the token's `areas`, by code: the token's area that holds it. Read
    once a request, so a list of areas costs one lookup."""
    scope = sorted(_caller(ctx).areas)

    async def read() -> dict[str, str]:
        async with ctx.db() as conn:
            return await areas.within(conn, scope)

    return await ctx.once("area_scope", read)


async def _within_areas(ctx: Context, f: ActivityFilter, area: str | None) -> ActivityFilter:
    """An area-scoped supervisor's view: every unit's activity, in one area of their scope
    (the filter's, else the area asked about, else their only one); elsewhere FORBIDDEN.

    The area asked about is narrowed to the token's area that holds it, not to itself: the
    figures are the same, and a list of areas shares one query per token area."""
    scope = sorted(_caller(ctx).areas)
    listed = ", ".join(scope[:10]) + (" ..." if len(scope) > 10 else "")
    if f.staff_id is not None:
        raise Forbidden("figures of one staff member outside your unit are for their own "
                        "supervisors")
    code = f.area_code or area or (scope[0] if len(scope) == 1 else None)
    if code is None:
        raise Forbidden(f"your token scopes you to the areas {listed}: give filter.areaCode, "
                        "one of them or an area inside one (or filter.unitCode, your unit)")
    holder = (await _area_scope(ctx)).get(code)
    if holder is None:
        raise Forbidden(f"area {code!r:.40} is outside your areas ({listed}); for your own "
                        "unit's figures anywhere, give filter.unitCode")
    return replace(f, area_code=code if f.area_code else holder)


async def aggregates(ctx: Context, f: ActivityFilter | None, level: str | None = None,
                     area: str | None = None) -> ActivityFilter | None:
    """A filter of figures, narrowed to what the caller may see; `level` is the areas' level,
    which the public may read at JANGKAU_PUBLIC_LEVEL or coarser, `area` the one area asked
    about, if any; then confined to an API key's areas, when it has any, and carrying its
    codes' ids (`with_ids`).

    The one rule for every aggregate (coverage, maps, area tiles, hexbins, series): a
    supervisor with `areas` sees every unit's activity inside them, k-suppressed (`min_staff`),
    unless the filter names their own unit or staff, which gives the plain supervisor's view.
    """
    narrowed, p = await _aggregates(ctx, f, level, area), ctx.principal
    if p is not None and p.key_areas:
        narrowed = _in_areas(p, narrowed or ActivityFilter())
    return None if narrowed is None else await with_ids(ctx, narrowed)


async def _aggregates(ctx: Context, f: ActivityFilter | None, level: str | None,
                      area: str | None) -> ActivityFilter | None:
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
    if p.role == SUPERVISOR and p.areas and not await _names_own_staff(ctx, f):
        return await _within_areas(ctx, f, area)
    narrowed = await _within_unit(ctx, f)
    return replace(narrowed, indicator_units=(await subtree(ctx)).units)


def min_staff(ctx: Context, f: ActivityFilter | None) -> int:
    """Aggregates (of the narrowed filter `f`) built from fewer distinct staff than this show no
    staff-identifying figure (distinct staff, time of the last activity); 0 when the caller
    sees them all: admins, and supervisors for figures of their own staff only."""
    p = ctx.principal
    if p is None or p.role not in SEE_SMALL_CELLS:
        return ctx.settings.k_anonymity
    own = p.role == ADMIN or (f is not None and f.staff_ids is not None)
    return 0 if own else ctx.settings.k_anonymity


async def team(ctx: Context, unit_code: str,
               f: ActivityFilter) -> tuple[frozenset[int], ActivityFilter]:
    """The units of the team of `unit_code` (it and every unit below it), and the activity
    filter narrowed like `records()`: supervisors see their own units' teams, admins any."""
    p = _caller(ctx)
    units = await _units_of(ctx, ActivityFilter(unit_code=unit_code))
    if p.role == SUPERVISOR and not units <= (await subtree(ctx)).units:
        raise Forbidden(f"unit {unit_code!r:.40} is not unit {p.unit} or a unit below it: "
                        "supervisors see their own units' teams")
    return units, await records(ctx, f)


async def check_target(ctx: Context, area_code: str | None, staff_id: uuid.UUID | None) -> None:
    """Admins set any target; supervisors the personal targets of their units' staff (never
    their own, nor an area's)."""
    p = _caller(ctx)
    if p.role == ADMIN:
        return
    if staff_id is None or area_code is not None:
        raise Forbidden("an area's targets are set by admins; supervisors set personal targets "
                        "(staffId) of their units' staff")
    if staff_id == p.staff_id:
        raise Forbidden("your own targets are set by your supervisor")
    if staff_id not in (await subtree(ctx)).staff:
        raise Forbidden(f"staff {staff_id} is not in unit {p.unit} or a unit below it")


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


class Read(Protocol):
    """An activity read: an ActivityRow, or a row of a compiled page."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def staff_id(self) -> uuid.UUID: ...


async def identifies_all(ctx: Context, f: ActivityFilter) -> bool:
    """Whether the caller may see the name and NIP of everyone whose activities `f` (narrowed
    by `records()`) selects: admins; others when `f` keeps to themselves and, for supervisors,
    their units' staff."""
    p = _caller(ctx)
    if p.role == ADMIN:
        return True
    if f.staff_ids is None:
        return False
    allowed = {p.staff_id} | ((await subtree(ctx)).staff if p.role == SUPERVISOR else set())
    return f.staff_ids <= allowed


def note_reads(ctx: Context, what: str, rows: Iterable[Read]) -> None:
    """Activities of others that `what` read: for the access log."""
    note_pairs(ctx, what, ((r.id, r.staff_id) for r in rows))


def note_pairs(ctx: Context, what: str, reads: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """`note_reads` of (activity id, staff id) pairs."""
    if ctx.ledger is not None:
        ctx.ledger.note(what, reads)
