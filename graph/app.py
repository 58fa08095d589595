"""The ASGI app: `create_app(settings)`. Resources live in the lifespan, never at import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from geo import migrate, partitions
from geo.access_writer import AccessWriter
from geo.db import create_engine, schema_revision
from geo.direct import Direct
from geo.hub import Hub
from geo.lookups import Lookups
from geo.plausibility import configure_engine
from geo.replicas import Replicas
from geo.settings import Settings
from graph import exports, limits, ogc, permissions, tiles
from graph.api_keys import scrub_access_log
from graph.auth import Verifier
from graph.edge import headers_for
from graph.fastpath import FastPath
from graph.middleware import Edge, bounded
from graph.schema import build_schema
from graph.view import GraphQLView
from graph.web import web_routes


async def healthz(request: Request) -> JSONResponse:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The database answers and is migrated to the revision this code expects; within
    JANGKAU_READY_TIMEOUT_S whatever the database does (a frozen one is not ready)."""
    limit = request.app.state.settings.ready_timeout_s

    async def probe() -> str | None:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            return await schema_revision(conn)

    try:
        revision = await bounded(probe(), limit)
    except TimeoutError:
        return JSONResponse({"status": "unavailable", "reason": f"no answer within {limit:g} s"},
                            status_code=503, headers=headers_for("DATABASE_UNAVAILABLE"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database means not ready
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__},
                            status_code=503, headers=headers_for("DATABASE_UNAVAILABLE"))
    if revision != migrate.head():
        return JSONResponse({"status": "not migrated", "revision": revision,
                             "expected": migrate.head(), "fix": "run `jangkau db upgrade`"},
                            status_code=503)
    replicas = [r.describe() for r in request.app.state.replicas.all]
    return JSONResponse({"status": "ready", "revision": revision,
                         **({"replicas": replicas} if replicas else {})})


def create_app(settings: Settings) -> Starlette:
    verifier = Verifier(settings)   # a bad key file stops here, before serving anything

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        def engine_for(url: str, replica: bool = True) -> AsyncEngine:
            return create_engine(url, statement_timeout_ms=settings.statement_timeout_ms,
                                 pool_size=settings.pool_size,
                                 connect_timeout_s=settings.connect_timeout_s,
                                 pool_timeout_s=settings.pool_timeout_s,
                                 pgbouncer=settings.pgbouncer, pre_ping=replica)

        engine = engine_for(settings.resolved_database_url(), replica=False)
        # The primary's one-statement reads and writes straight on asyncpg, planned generically
        # (lookups, pages, the access log's commits). Its connections are made when first asked.
        app.state.direct = None if settings.pgbouncer else Direct(
            settings.resolved_database_url(), statement_timeout_ms=settings.statement_timeout_ms,
            pool_size=2 * settings.pool_size, connect_timeout_s=settings.connect_timeout_s,
            pool_timeout_s=settings.pool_timeout_s)
        app.state.settings = settings
        app.state.verifier = verifier
        configure_engine(engine, settings)     # plausibility thresholds on every connection
        app.state.engine = engine
        app.state.access_writer = AccessWriter(engine, app.state.direct)
        app.state.replicas = Replicas(settings.read_urls, engine_for, settings.max_replica_lag_s)
        # graph.fastpath's lookups by id, read and journaled by one statement on the primary;
        # where replicas are, reads are theirs: the executor answers (graph.fastpath).
        app.state.lookups = None if app.state.replicas.all else \
            Lookups(engine, app.state.direct, app.state.access_writer)
        await app.state.replicas.start()
        # LISTEN needs a session of its own: the primary itself, never a transaction pooler.
        app.state.hub = Hub(settings.listen_url or settings.resolved_database_url(), engine,
                            settings.max_subscriptions)
        await app.state.hub.start()
        # Month partitions ahead: once now, before the first request, then daily.
        # (A failure is logged by ensure_quietly; a database too slow to answer is /readyz's.)
        with contextlib.suppress(TimeoutError):
            await bounded(partitions.ensure_quietly(engine, settings.partition_months_ahead),
                          settings.request_timeout_s)
        upkeep = asyncio.create_task(partitions.keep_ahead(engine,
                                                           settings.partition_months_ahead))
        try:
            yield
        finally:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
            await app.state.hub.stop()
            if app.state.lookups is not None:
                await app.state.lookups.close()
            await app.state.access_writer.close()
            await app.state.replicas.stop()
            if app.state.direct is not None:
                await app.state.direct.close()
            await engine.dispose()

    rules = limits.rules(settings)
    schema = build_schema(limits.extensions(settings, rules))
    graphql = GraphQLView(schema, FastPath(schema._schema, settings, rules),
                          graphql_ide="graphiql" if settings.graphiql else None)
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),     # subscriptions: graphql-transport-ws
        *tiles.routes,
        *exports.routes,
        *ogc.routes,
        *web_routes(),
    ]
    permissions.check_routes(routes)
    scrub_access_log()      # API keys in URLs (`?key=`) never reach uvicorn's access log
    # Every HTTP request's log line, caller, time bounds, body cap and coded escapes.
    middleware = [Middleware(Edge, verifier=verifier, max_bytes=settings.max_body_bytes,
                             request_s=settings.request_timeout_s,
                             body_s=settings.body_timeout_s)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
