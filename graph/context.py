"""The per-request context: settings, the engine, fresh DataLoaders, and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.settings import Settings
from graph.loaders import Loaders


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.engine)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn


Info = strawberry.Info[Context, None]
