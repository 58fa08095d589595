"""The ASGI app: `create_app(settings)`. Resources live in the lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from geo import migrate
from geo.db import create_engine, schema_revision
from geo.hub import Hub
from geo.plausibility import configure_engine
from geo.settings import Settings
from graph import limits, permissions, tiles
from graph.auth import Verifier
from graph.middleware import BodySizeLimit
from graph.schema import build_schema
from graph.view import GraphQLView
from graph.web import web_routes


async def healthz(request: Request) -> JSONResponse:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The database answers and is migrated to the revision this code expects."""
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            revision = await schema_revision(conn)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database means not ready
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__},
                            status_code=503)
    if revision != migrate.head():
        return JSONResponse({"status": "not migrated", "revision": revision,
                             "expected": migrate.head(), "fix": "run `jangkau db upgrade`"},
                            status_code=503)
    return JSONResponse({"status": "ready", "revision": revision})


def create_app(settings: Settings) -> Starlette:
    verifier = Verifier(settings)   # a bad key file stops here, before serving anything

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url(),
                               statement_timeout_ms=settings.statement_timeout_ms,
                               pool_size=settings.pool_size)
        app.state.settings = settings
        app.state.verifier = verifier
        configure_engine(engine, settings)     # plausibility thresholds on every connection
        app.state.engine = engine
        app.state.hub = Hub(settings.resolved_database_url(), engine, settings.max_subscriptions)
        await app.state.hub.start()
        try:
            yield
        finally:
            await app.state.hub.stop()
            await engine.dispose()

    graphql = GraphQLView(build_schema(limits.extensions(settings)),
                          graphql_ide="graphiql" if settings.graphiql else None)
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),     # subscriptions: graphql-transport-ws
        *tiles.routes,
        *web_routes(),
    ]
    permissions.check_routes(routes)
    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)])
