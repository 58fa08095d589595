"""Engine creation: SQLAlchemy 2 async on asyncpg, tuned for spatial work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def sqlalchemy_url(url: str) -> str:
    """`postgresql://...` as SQLAlchemy's asyncpg dialect wants it."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def server_settings(statement_timeout_ms: int) -> dict[str, str]:
    # JIT turns sub-millisecond spatial lookups into 200 ms compiles (see bench/README.md).
    return {
        "jit": "off",
        "statement_timeout": str(statement_timeout_ms),
        "application_name": "jangkau",
        "timezone": "UTC",
    }


def create_engine(url: str, *, statement_timeout_ms: int = 15_000, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={
            "server_settings": server_settings(statement_timeout_ms),
            "command_timeout": statement_timeout_ms / 1000 + 5,
        },
    )


async def raw_connection(conn: AsyncConnection) -> asyncpg.Connection:
    raw_conn = await conn.get_raw_connection()
    return raw_conn.driver_connection  # type: ignore[return-value]


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[AsyncConnection]:
    """A one-off engine and connection, for the CLI."""
    engine = create_engine(url, pool_size=1, statement_timeout_ms=0)
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def schema_revision(conn: AsyncConnection) -> str | None:
    """The migrated revision, or None when the database was never migrated."""
    exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists:
        return None
    return await conn.scalar(text("SELECT version_num FROM alembic_version"))
