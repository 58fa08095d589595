"""The per-request context: settings, the engine, fresh DataLoaders, and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.access_log import Ledger, Reader
from geo.people import Subtree
from geo.settings import Settings
from graph.auth import Principal
from graph.loaders import Loaders


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    principal: Principal | None = None      # None: no token (see graph.permissions)
    loaders: Loaders = field(init=False)
    ledger: Ledger | None = field(init=False)   # others' locations read, for the access log
    subtree: Subtree | None = field(init=False, default=None)   # the principal's unit, cached

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.engine)
        p = self.principal
        self.ledger = Ledger(Reader(p.sub, p.role, p.staff_id)) if p else None

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn


Info = strawberry.Info[Context, None]
