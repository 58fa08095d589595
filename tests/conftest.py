"""Fixtures: a PostGIS template (migrations, real boundaries, the hand-made seed) built once,
a fresh clone per test, and the app served in process through httpx, asking as an admin with a
real signed token unless a test asks as another role (`api_as`, `serve(..., role=...)`)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo import migrate
from geo.boundaries import import_areas
from geo.db import create_engine
from geo.demo import BOUNDARY_FILES
from geo.settings import Settings
from graph.app import create_app
from tests import dbs
from tests.seed import seed
from tests.tokens import SECRET, bearer, token

_counter = itertools.count()


@pytest.fixture(scope="session")
def admin() -> Iterator[str]:
    url = dbs.admin_url()
    dbs.run_sync(lambda: dbs.drop_stale(url))
    yield url


def _build_template(admin: str, name: str, seeded: bool) -> str:
    url = dbs.run_sync(lambda: dbs.create(admin, name))
    migrate.upgrade(url)

    async def fill() -> None:
        engine = create_engine(url, pool_size=1)
        async with engine.connect() as conn:
            await import_areas(conn, BOUNDARY_FILES)
            if seeded:
                await seed(conn)
        await engine.dispose()

    dbs.run_sync(fill)
    return name


@pytest.fixture(scope="session")
def template(admin: str) -> Iterator[str]:
    """Migrated, with the real boundaries and the hand-made seed."""
    name = _build_template(admin, f"{dbs.PREFIX}tpl", seeded=True)
    yield name
    dbs.run_sync(lambda: dbs.drop(admin, name))


@pytest.fixture(scope="session")
def bare_template(admin: str) -> Iterator[str]:
    """Migrated, with the real boundaries and nothing else."""
    name = _build_template(admin, f"{dbs.PREFIX}bare", seeded=False)
    yield name
    dbs.run_sync(lambda: dbs.drop(admin, name))


@pytest.fixture(scope="session")
def clones(admin: str, template: str) -> Iterator[dbs.Clones]:
    made = dbs.Clones(admin, template)
    yield made
    made.close()


@pytest.fixture(scope="session")
def bare_clones(admin: str, bare_template: str) -> Iterator[dbs.Clones]:
    made = dbs.Clones(admin, bare_template)
    yield made
    made.close()


async def _clone(clones: dbs.Clones) -> AsyncIterator[str]:
    url = await clones.take()
    try:
        yield url
    finally:
        await clones.give_back(url)


@pytest.fixture
async def db_url(clones: dbs.Clones) -> AsyncIterator[str]:
    """A private copy of the seeded template for one test."""
    async for url in _clone(clones):
        yield url


@pytest.fixture(scope="module")
async def module_db_url(clones: dbs.Clones) -> AsyncIterator[str]:
    """One copy of the seeded template for a whole module whose tests change nothing."""
    async for url in _clone(clones):
        yield url


@pytest.fixture
async def bare_db_url(bare_clones: dbs.Clones) -> AsyncIterator[str]:
    async for url in _clone(bare_clones):
        yield url


@pytest.fixture
async def empty_db_url(admin: str) -> AsyncIterator[str]:
    """A database with nothing in it, not even PostGIS."""
    name = f"{dbs.PREFIX}{next(_counter)}"
    url = await dbs.create(admin, name)
    try:
        yield url
    finally:
        await dbs.drop(admin, name)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    e = create_engine(db_url, pool_size=2)
    yield e
    await e.dispose()


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as c:
        yield c


def settings_for(url: str, **overrides: Any) -> Settings:
    """Settings for a test database; tokens are HS256 with the test secret (tests.tokens)."""
    return Settings(database_url=url, **{"jwt_secret": SECRET, **overrides})


class Api:
    """A GraphQL client over in-process HTTP."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def post(self, query: str, variables: dict[str, Any] | None = None,
                   **headers: str) -> dict[str, Any]:
        r = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers=headers)
        assert r.status_code < 500, r.text
        body: dict[str, Any] = r.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.post(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first error; fails when there is none."""
        body = await self.post(query, variables)
        assert body.get("errors"), body
        err: dict[str, Any] = body["errors"][0]
        assert "Traceback" not in err["message"]
        return err


def _client(app: Any, role: str | None, sub: str | None = None,
            unit: str | None = None, **claims: Any) -> httpx.AsyncClient:
    """A client sending a token of `role` (and any more `claims`) with every request; none when
    `role` is None."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                               base_url="http://jangkau.test",
                               headers=bearer(token(role, sub, unit, **claims)) if role else None)
    client.app = app  # type: ignore[attr-defined]
    return client


async def serve(settings: Settings, role: str | None = "admin", sub: str | None = None,
                unit: str | None = None) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app), _client(app, role, sub, unit) as client:
        yield Api(client)


ApiAs = Callable[..., Api]


@pytest.fixture
async def api_as(api: Api) -> AsyncIterator[ApiAs]:
    """`api_as(role, sub=None, unit=None, **claims)`: the `api` fixture's app, asked by another
    role (None: no token at all), e.g. a supervisor with `areas=[...]`."""
    clients: list[httpx.AsyncClient] = []

    def make(role: str | None, sub: object = None, unit: str | None = None,
             **claims: Any) -> Api:
        clients.append(_client(api.http.app,  # type: ignore[attr-defined]
                               role, str(sub) if sub is not None else None, unit, **claims))
        return Api(clients[-1])

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async for a in serve(settings_for(db_url)):
        yield a
