"""The per-request context: settings, the engine, fresh DataLoaders, and who is asking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from geo.access_log import Ledger, Reader
from geo.access_writer import AccessWriter
from geo.direct import Direct, one_statement
from geo.hub import Hub
from geo.replicas import Replicas, connect
from geo.settings import Settings
from graph.auth import Principal
from graph.loaders import Loaders

T = TypeVar("T")


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    access_writer: AccessWriter   # the app's group commit of access-log rows (graph.view)
    principal: Principal | None = None      # None: no token (see graph.permissions)
    replicas: Replicas | None = None
    # The primary only: a mutation, or whatever a request does once it has written.
    primary: bool = False
    hub: Hub | None = None                   # the live feed (graph.resolvers.live)
    # The primary's one-statement reads and writes (geo.direct); None behind PgBouncer.
    direct: Direct | None = None
    connection_params: dict[str, Any] | None = None   # a WebSocket's connection_init payload
    socket: WebSocket | None = None
    # Pages may be compiled to SQL JSON (graph.compile): plain HTTP answers only, whose
    # encoder embeds orjson Fragments.
    compile_pages: bool = False
    loaders: Loaders = field(init=False)
    ledger: Ledger | None = field(init=False)   # others' locations read, for the access log
    _once: dict[object, asyncio.Future[Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.read)
        self.become(self.principal)

    def become(self, principal: Principal | None) -> None:
        """Ask as `principal` from now on (a WebSocket authenticates after it opens)."""
        self.principal = principal
        p = principal
        self.ledger = Ledger(Reader(p.sub, p.role, p.staff_id)) if p else None

    @property
    def replicated(self) -> bool:
        """Whether reads may go to a replica (the primary's one-statement reads may not)."""
        return self.replicas is not None and bool(self.replicas.all)

    def reader(self) -> AsyncEngine:
        """Where this request's reads go: a usable replica unless it must see the primary."""
        replica = None if self.primary or self.replicas is None else self.replicas.pick()
        return replica or self.engine

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncConnection]:
        async with connect(self.reader(), self.engine, self.replicas) as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads of one statement each (the loaders): in autocommit, so a
        read is one round trip, not BEGIN, the read and ROLLBACK. Behind PgBouncer a
        transaction is kept: the session settings are set in each one (geo.db)."""
        async with self.db() as conn:
            if not self.settings.pgbouncer:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def primary_generic(self) -> AsyncIterator[AsyncConnection | Direct]:
        """Where a statement whose plan does not depend on its values goes on the primary:
        geo.direct's sessions, which plan generically in autocommit (`geo.db.fetch(...,
        generic=True)` then is one statement, not a transaction of its own); the primary's
        usual connection behind PgBouncer."""
        async with one_statement(self.engine, self.direct) as conn:
            yield conn

    async def once(self, key: object, work: Callable[[], Awaitable[T]]) -> T:
        """`work()`'s result, computed once a request however many resolvers ask at once
        (a list of 153 areas asks 153 times, concurrently)."""
        if key not in self._once:
            self._once[key] = asyncio.ensure_future(work())
        result: T = await self._once[key]
        return result


def context_of(request: HTTPConnection) -> Context:
    """A request's or a socket's context: the app's resources, and the caller graph.edge found
    (a socket authenticates later, in graph.view's on_ws_connect)."""
    state = request.app.state
    return Context(settings=state.settings, engine=state.engine,
                   access_writer=state.access_writer,
                   principal=getattr(request.state, "principal", None),
                   replicas=state.replicas, hub=getattr(state, "hub", None),
                   direct=getattr(state, "direct", None),
                   socket=request if isinstance(request, WebSocket) else None)


Info = strawberry.Info[Context, None]
