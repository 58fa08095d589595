"""Engine creation: SQLAlchemy 2 async on asyncpg, tuned for spatial work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from geo.errors import BadInput, LimitExceeded

QUERY_CANCELED = "57014"  # SQLSTATE query_canceled: a statement_timeout, or a cancel request
NOT_IN_REPERTOIRE = "22021"  # character_not_in_repertoire: NUL in a text parameter


def sqlalchemy_url(url: str) -> str:
    """`postgresql://...` as SQLAlchemy's asyncpg dialect wants it."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def server_settings(statement_timeout_ms: int) -> dict[str, str]:
    # JIT turns sub-millisecond spatial lookups into 200 ms compiles; and the driver's
    # prepared statements would switch to a generic plan after five runs, which for spatial
    # and range predicates was measured 4-5x slower (tiles: 1.2 s -> 5-6 s).
    return {
        "jit": "off",
        "plan_cache_mode": "force_custom_plan",
        "statement_timeout": str(statement_timeout_ms),
        "application_name": "jangkau",
        "timezone": "UTC",
    }


def create_engine(url: str, *, statement_timeout_ms: int = 15_000,
                  pool_size: int = 10) -> AsyncEngine:
    """`statement_timeout_ms=0` means no limit, on the server and in the driver alike."""
    # The driver's timeout is a backstop a little behind the server's, which cancels cleanly.
    command_timeout = statement_timeout_ms / 1000 + 5 if statement_timeout_ms else None
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={
            "server_settings": server_settings(statement_timeout_ms),
            "command_timeout": command_timeout,
        },
    )
    event.listen(engine.sync_engine, "handle_error", _client_errors(statement_timeout_ms))
    return engine


def _client_errors(statement_timeout_ms: int) -> Callable[[ExceptionContext], None]:
    """Database refusals caused by what the client asked for become its errors, not bugs."""

    def handle(ctx: ExceptionContext) -> None:
        err = ctx.original_exception
        state = getattr(err, "sqlstate", None)
        if (state == QUERY_CANCELED and "statement timeout" in str(err)) or isinstance(
                err, TimeoutError):
            raise LimitExceeded(
                f"the database stopped this request after statement_timeout = "
                f"{statement_timeout_ms} ms (JANGKAU_STATEMENT_TIMEOUT_MS): ask for less "
                "(a shorter period, a smaller area, fewer items)") from None
        if state == NOT_IN_REPERTOIRE:
            # Only a value the client sent can hold NUL: PostgreSQL text cannot.
            raise BadInput("text must not contain NUL characters (\\u0000)") from None

    return handle


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
