"""Engine creation: SQLAlchemy 2 async on asyncpg, tuned for spatial work, bounded in time.

Every wait on the database has its own bound: connecting (asyncpg `timeout`), waiting for a
pooled connection (`pool_timeout`), a statement on the server (`statement_timeout`) and, as a
backstop when the server stops answering altogether, the driver's `command_timeout`. A pooled
connection the server has closed (a restart sends every session a FATAL and hangs up) is
replaced when it is checked out, without a round trip (`_drop_closed`); one that dies between
checkout and use fails that request as DatabaseUnavailable and leaves the pool. Replicas'
engines still ping each checkout, so a read goes to the primary at once when a replica has just
stopped. What the database refused because of the client stays the client's error; what failed
because the database is unreachable becomes DatabaseUnavailable (see `unavailable`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, Protocol

import asyncpg
from sqlalchemy import event, exc, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from geo.errors import BadInput, DatabaseUnavailable, JangkauError, LimitExceeded

QUERY_CANCELED = "57014"  # SQLSTATE query_canceled: a statement_timeout, or a cancel request
NOT_IN_REPERTOIRE = "22021"  # character_not_in_repertoire: NUL in a text parameter
# SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown, crash,
# cannot connect now) mean the database went away, not that the request was wrong.
UNAVAILABLE_STATES = ("08", "57P")
DRIVER_BACKSTOP_S = 1.0   # the driver waits this much longer than statement_timeout
TIMEOUT_OPTION = "jangkau_statement_timeout_ms"   # an engine's, among its execution options


def sqlalchemy_url(url: str) -> str:
    """`postgresql://...` as SQLAlchemy's asyncpg dialect wants it."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def driver_url(url: str) -> str:
    """`url` as asyncpg itself takes it."""
    return "postgresql://" + sqlalchemy_url(url).removeprefix("postgresql+asyncpg://")


def server_settings(statement_timeout_ms: int, generic_plans: bool = False) -> dict[str, str]:
    # JIT turns sub-millisecond spatial lookups into 200 ms compiles; and the driver's
    # prepared statements would switch to a generic plan after five runs, which for spatial
    # and range predicates was measured 4-5x slower (tiles: 1.2 s -> 5-6 s). Sessions of
    # `generic_plans` (geo.direct) take only statements whose plan does not depend on values.
    return {
        "jit": "off",
        "plan_cache_mode": "force_generic_plan" if generic_plans else "force_custom_plan",
        "statement_timeout": str(statement_timeout_ms),
        "application_name": "jangkau",
        "timezone": "UTC",
    }


# What PgBouncer passes on from a client's startup packet; it refuses the others.
POOLER_TRACKED = ("application_name", "timezone")


def create_engine(url: str, *, statement_timeout_ms: int = 15_000, pool_size: int = 10,
                  connect_timeout_s: float = 10.0, pool_timeout_s: float = 30.0,
                  pgbouncer: bool = False, pre_ping: bool = False) -> AsyncEngine:
    """`statement_timeout_ms=0` means no limit, on the server and in the driver alike.

    `pgbouncer`: the URL is a PgBouncer in transaction mode, where a client's session is not
    one server session: no prepared statement is cached or named twice, and the settings a
    session would carry are set in every transaction instead (one statement after BEGIN).
    """
    # The driver's timeout is a backstop a little behind the server's, which cancels cleanly:
    # it only fires when the server does not answer at all (frozen, or the network gone).
    command_timeout = statement_timeout_ms / 1000 + DRIVER_BACKSTOP_S \
        if statement_timeout_ms else None
    wanted = server_settings(statement_timeout_ms)
    startup = {k: v for k, v in wanted.items() if k in POOLER_TRACKED} if pgbouncer else wanted
    connect_args: dict[str, object] = {"server_settings": startup,
                                       "command_timeout": command_timeout,
                                       "timeout": connect_timeout_s}
    if pgbouncer:
        connect_args.update(statement_cache_size=0,
                            prepared_statement_name_func=lambda: f"__jk_{uuid.uuid4().hex}__")
    engine = create_async_engine(
        sqlalchemy_url(url) + ("?prepared_statement_cache_size=0" if pgbouncer else ""),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout_s,
        # The connection returned last goes out first: the few in use stay warm (the judging
        # functions compiled, their scratch tables made: ~50 ms a connection's first batch),
        # rather than a round of all 20 after a burst of readers (3,600 -> 5,500 records/s).
        pool_use_lifo=True,
        # No pre-ping by default: it cost a BEGIN, a ping and a ROLLBACK (3 round trips) per
        # checkout. A replica's engine keeps it: a failed ping is what sends a read to the
        # primary at once when the replica has just stopped (geo.replicas.connect).
        pool_pre_ping=pre_ping,
        connect_args=connect_args,
        execution_options={TIMEOUT_OPTION: statement_timeout_ms},   # for `fetch`'s errors
    )
    event.listen(engine.sync_engine, "handle_error", _client_errors(statement_timeout_ms))
    event.listen(engine.sync_engine.pool, "checkout", _drop_closed)
    if pgbouncer:
        apply_settings(engine, {k: v for k, v in wanted.items() if k not in POOLER_TRACKED},
                       per_transaction=True)
    return engine


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection whose server hung up is replaced (the pool retries the checkout
    with a new one): asyncpg sees the hang-up as soon as the event loop reads it."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def apply_settings(engine: AsyncEngine, values: Mapping[str, str], *,
                   per_transaction: bool) -> None:
    """Set `values` (`set_config`) on every new connection of `engine`, or, behind PgBouncer's
    transaction pooling, at the start of every transaction (SET LOCAL's scope)."""
    if not values:
        return
    names, settings = zip(*values.items(), strict=True)
    local = "true" if per_transaction else "false"
    sql = "SELECT " + ", ".join(f"set_config(${2 * i + 1}, ${2 * i + 2}, {local})"
                                for i in range(len(names)))
    args = [v for pair in zip(names, settings, strict=True) for v in pair]
    if per_transaction:
        @event.listens_for(engine.sync_engine, "begin")
        def _each(conn: Any) -> None:
            conn.exec_driver_sql(sql, tuple(args))
    else:
        @event.listens_for(engine.sync_engine, "connect")
        def _once(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.run_async(lambda raw: raw.execute(sql, *args))


def _client_errors(statement_timeout_ms: int) -> Callable[[ExceptionContext], None]:
    """Database refusals caused by what the client asked for become its errors, not bugs;
    an unreachable database becomes DatabaseUnavailable."""

    def handle(ctx: ExceptionContext) -> None:
        if ctx.is_pre_ping:
            return      # the pool replaces the connection itself
        refusal = _refusal(ctx.original_exception, statement_timeout_ms)
        if refusal is not None:
            raise refusal from None
        outage = unavailable(ctx.original_exception) or _lost(ctx)
        if outage is not None:
            ctx.is_disconnect = True    # the pool drops this connection
            raise outage from None

    return handle


def _refusal(err: BaseException, statement_timeout_ms: int) -> JangkauError | None:
    """What the database refused because of what the client asked, as the client's error."""
    state = getattr(err, "sqlstate", None)
    if state == QUERY_CANCELED and "statement timeout" in str(err):
        return LimitExceeded(
            f"the query ran longer than statement_timeout = {statement_timeout_ms} ms "
            "(JANGKAU_STATEMENT_TIMEOUT_MS) and the database stopped it: ask for less "
            "(a shorter period, a smaller area, fewer items)")
    if state == NOT_IN_REPERTOIRE:
        # Only a value the client sent can hold NUL: PostgreSQL text cannot.
        return BadInput("text must not contain NUL characters (\\u0000)")
    return None


def _options(conn: AsyncConnection) -> Mapping[str, Any]:
    return conn.sync_connection.get_execution_options() if conn.sync_connection else {}


class Statements(Protocol):
    """Where one-statement reads and writes may also go: the primary's pool of sessions that
    plan generically (geo.direct), each statement in autocommit."""

    async def fetch(self, sql: str, *args: object) -> Sequence[Sequence[Any]]: ...


async def fetch(conn: AsyncConnection | Statements, sql: str, *args: object,
                generic: bool = False, commit: bool = False) -> Sequence[Sequence[Any]]:
    """The rows of one read (`$n` parameters). On a connection in autocommit the statement
    goes straight to the driver: SQLAlchemy's execute cost more CPU than a lookup by id
    (issue 13). In a transaction (behind PgBouncer, whose settings come with each one) it goes
    through SQLAlchemy. Errors are those the engine's own statements raise.

    `generic`: plan it generically (see `plan_generically`). In autocommit that needs a
    transaction of its own, which the driver opens with the setting in one round trip; the
    `Statements` of geo.direct plan every statement so, and autocommit commits there.
    `commit`: the statement writes too, and is committed before this returns."""
    if not isinstance(conn, AsyncConnection):
        return await conn.fetch(sql, *args)
    options = _options(conn)
    if options.get("isolation_level") != "AUTOCOMMIT":
        if generic:
            await plan_generically(conn)
        rows = (await conn.exec_driver_sql(sql, args)).all()
        if commit:
            await conn.commit()
        return rows
    driver = await raw_connection(conn)
    if conn.sync_connection is not None:
        # The engine's own event, so that what observes SQL (tracing, the tests' statement
        # log) sees these reads too.
        for statement in (GENERIC, sql) if generic else (sql,):
            conn.sync_connection.dispatch.before_cursor_execute(
                conn.sync_connection, None, statement, args, None, False)
    try:
        rows = await (_generically(driver, sql, args, commit) if generic
                      else driver.fetch(sql, *args))
    except Exception as err:
        coded = driver_error(err, driver, options.get(TIMEOUT_OPTION, 0))
        if coded is None:
            raise
        if isinstance(coded, DatabaseUnavailable):
            await conn.invalidate()     # the pool drops this connection
        raise coded from None
    return rows


def driver_error(err: Exception, driver: asyncpg.Connection,
                 statement_timeout_ms: int) -> JangkauError | None:
    """What a statement's failure on `driver` means to the client: a refusal of what it asked
    (`_refusal`), an outage (`unavailable`, or the connection found closed), or None (a bug)."""
    refusal = _refusal(err, statement_timeout_ms)
    if refusal is not None:
        return refusal
    outage = unavailable(err)
    if outage is None and driver.is_closed():
        outage = DatabaseUnavailable("the database is unavailable (the connection was "
                                     "closed): retry in a few seconds")
    return outage


async def _generically(driver: asyncpg.Connection, sql: str, args: Sequence[object],
                       commit: bool) -> list[asyncpg.Record]:
    """`sql`'s rows in a transaction of its own that plans generically, committed when it
    wrote (`commit`), else rolled back. The pool believes this connection is in autocommit,
    so it must never go back to the pool inside that transaction: cut off in the middle (a
    time bound), the connection is closed, and the pool replaces it (`_drop_closed`)."""
    try:
        await driver.execute(f"BEGIN; {GENERIC}")
        try:
            rows: list[asyncpg.Record] = await driver.fetch(sql, *args)
        except Exception:
            await driver.execute("ROLLBACK")
            raise
        await driver.execute("COMMIT" if commit else "ROLLBACK")
    except BaseException as exc:
        if not isinstance(exc, Exception) or driver.is_in_transaction():
            driver.terminate()
        raise
    return rows


# SQLAlchemy's own pattern for a text() clause's :name parameters (not `::` casts).
_NAMED = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")


@lru_cache(maxsize=512)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    names: dict[str, int] = {}

    def number(m: re.Match[str]) -> str:
        return f"${names.setdefault(m.group(1), len(names) + 1)}"

    return _NAMED.sub(number, sql), tuple(names)


async def fetch_named(conn: AsyncConnection | Statements, sql: str, params: Mapping[str, Any],
                      generic: bool = False, commit: bool = False) -> Sequence[Sequence[Any]]:
    """`fetch` of a statement written for text() (`:name` parameters), numbered once per
    text: a page's statement, whose text() execution cost a third of its Python time."""
    numbered, names = _numbered(sql)
    return await fetch(conn, numbered, *(params[n] for n in names), generic=generic,
                       commit=commit)


GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan"


async def plan_generically(conn: AsyncConnection) -> None:
    """Let the rest of this transaction's statements use generic plans, cached by the driver's
    prepared statements, instead of the connections' force_custom_plan (server_settings): for
    statements whose plan does not depend on their values, where planning a partitioned table
    each time cost as much as running it (a page of activities: 1.7 → 0.9 ms). `conn` is in a
    transaction: `fetch(..., generic=True)` opens one of its own on a connection in autocommit."""
    await conn.exec_driver_sql(GENERIC)


def _lost(ctx: ExceptionContext) -> DatabaseUnavailable | None:
    """A connection the server closed under us (a shutdown's FATAL arrives between statements,
    and the driver then fails the next one with an internal error)."""
    try:
        driver = ctx.connection.connection.driver_connection if ctx.connection else None
    except exc.SQLAlchemyError:
        return None
    if ctx.is_disconnect or (driver is not None and driver.is_closed()):
        return DatabaseUnavailable("the database is unavailable (the connection was closed): "
                                   "retry in a few seconds; resending a record mutation is safe")
    return None


def unavailable(error: BaseException) -> DatabaseUnavailable | None:
    """The outage `error` stands for (refused, reset, closed, timed out, shutting down), if it
    is one, as the error a client sees; None for any other error."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DatabaseUnavailable):
            return seen
        reason = _outage_reason(seen)
        if reason is not None:
            return DatabaseUnavailable(f"the database is unavailable ({reason}): retry in a "
                                       "few seconds; resending a record mutation is safe")
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return None


def _outage_reason(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and state.startswith(UNAVAILABLE_STATES):
        return "it is shutting down or starting up"
    if isinstance(error, exc.TimeoutError):
        return "busy: no pooled connection became free within JANGKAU_POOL_TIMEOUT_S"
    if isinstance(error, TimeoutError):
        return "it did not answer within the driver's command_timeout"
    if isinstance(error, OSError | asyncpg.ConnectionDoesNotExistError):
        return "the connection failed"
    if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
        return "the connection was closed"
    return None


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
