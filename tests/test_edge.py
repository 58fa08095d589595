"""The HTTP edge, in process: one authentication step and one error shape for every route, an
unreachable database answered 503 DATABASE_UNAVAILABLE with Retry-After, the request bound, and
one log line per request with its id."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from geo.db import create_engine, unavailable
from geo.errors import DatabaseUnavailable
from geo.settings import Settings
from graph.app import create_app
from graph.auth import Verifier
from graph.edge import RETRY_AFTER_S, error_response
from graph.logs import JsonFormatter
from graph.middleware import Edge
from tests.conftest import settings_for
from tests.tokens import bearer, token

READ = "{ units { code } }"
TILE = "/tiles/areas/12/3300/2170.mvt"


def _closed_port() -> int:
    """A port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
async def down() -> AsyncIterator[httpx.AsyncClient]:
    """The app in front of a database that refuses connections."""
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/jangkau"
    app = create_app(settings_for(url, connect_timeout_s=1.0))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://jangkau.test",
            headers=bearer(token("admin"))) as client:
        yield client


def _outage(r: httpx.Response) -> str:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == str(RETRY_AFTER_S)
    return r.text


async def test_an_unreachable_database_is_a_coded_503_on_every_route(
        down: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    graphql = await down.post("/graphql", json={"query": READ})
    _outage(graphql)
    error = graphql.json()["errors"][0]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert "retry in a few seconds" in error["message"]
    tile = await down.get(TILE)
    _outage(tile)
    assert tile.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
    began = time.monotonic()
    ready = await down.get("/readyz")
    assert time.monotonic() - began < 2
    _outage(ready)
    assert ready.json()["status"] == "unavailable"
    outages = [r for r in caplog.records if "database is unavailable" in r.getMessage()]
    assert len(outages) == 2 and all(r.exc_info is None for r in outages)   # one line each
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_bad_token_is_refused_on_every_route(db_url: str) -> None:
    app = create_app(settings_for(db_url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://jangkau.test",
            headers=bearer("not.a.token")) as client:
        for method, path, envelope in (("POST", "/graphql", "errors"), ("GET", TILE, "error"),
                                       ("GET", "/healthz", "errors")):
            r = await client.request(method, path, json={"query": READ})
            assert r.status_code == 401, path
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
            body = r.json()[envelope]
            code = body[0]["extensions"]["code"] if envelope == "errors" else body["code"]
            assert code == "UNAUTHENTICATED"


async def test_the_request_bound_answers_while_the_database_hangs(db_url: str) -> None:
    """A lock held elsewhere and no statement_timeout: the bound answers, 503, on time."""
    locker = create_engine(db_url, pool_size=1)
    app = create_app(settings_for(db_url, statement_timeout_ms=0, request_timeout_s=0.5))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://jangkau.test",
            headers=bearer(token("admin"))) as client, locker.connect() as conn:
        await conn.execute(text("LOCK TABLE units IN ACCESS EXCLUSIVE MODE"))
        began = time.monotonic()
        r = await client.post("/graphql", json={"query": READ})
        took = time.monotonic() - began
        await conn.rollback()
        body = _outage(r)
        assert "request bound of 0.5 s (JANGKAU_REQUEST_TIMEOUT_S)" in body
        assert took < 0.5 + 2      # answered at the bound, not when the lock went away
        again = await client.post("/graphql", json={"query": READ})
        assert again.status_code == 200 and again.json()["data"]["units"]
    await locker.dispose()


async def test_no_free_pooled_connection_is_a_coded_503(db_url: str) -> None:
    """Every pooled connection held (here: waiting on a lock): the next request waits
    JANGKAU_POOL_TIMEOUT_S, not the request bound, and says why."""
    locker = create_engine(db_url, pool_size=1)
    app = create_app(settings_for(db_url, pool_size=1, pool_timeout_s=0.3,
                                  statement_timeout_ms=0, request_timeout_s=3))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://jangkau.test",
            headers=bearer(token("admin"))) as client, locker.connect() as conn:
        await conn.execute(text("LOCK TABLE units IN ACCESS EXCLUSIVE MODE"))
        held = [asyncio.create_task(client.post("/graphql", json={"query": READ}))
                for _ in range(2)]      # pool_size 1 + overflow 1: both connections wait
        await asyncio.sleep(0.5)
        r = await client.post("/graphql", json={"query": READ})
        await conn.rollback()
        assert "no pooled connection became free within JANGKAU_POOL_TIMEOUT_S" in _outage(r)
        assert [(await t).status_code for t in held] == [200, 200]
    await locker.dispose()


def test_what_counts_as_an_outage() -> None:
    class Shutdown(Exception):
        sqlstate = "57P01"      # admin_shutdown

    class Unique(Exception):
        sqlstate = "23505"

    for outage in (ConnectionRefusedError(), TimeoutError(), Shutdown(),
                   asyncpg.ConnectionDoesNotExistError("gone"),
                   sa_exc.TimeoutError("QueuePool limit")):
        assert isinstance(unavailable(outage), DatabaseUnavailable), outage
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = ConnectionResetError()
    assert unavailable(wrapped) is not None
    for bug in (ValueError("x"), Unique(), asyncpg.InterfaceError("other")):
        assert unavailable(bug) is None, bug


def _edge(app: object) -> Edge:
    """The edge with a body limit of 0.2 s and a request bound of 5 s."""
    verifier = Verifier(settings_for("postgresql://postgres@127.0.0.1:1/unused"))
    return Edge(app, verifier, max_bytes=1 << 20, request_s=5,  # type: ignore[arg-type]
                body_s=0.2)


def _scope() -> dict[str, object]:
    return {"type": "http", "method": "POST", "path": "/graphql", "headers": [],
            "query_string": b""}


async def test_a_slow_body_is_408() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        await receive()  # type: ignore[operator]

    async def trickle() -> dict[str, object]:
        await asyncio.sleep(1)
        return {"type": "http.request", "body": b"", "more_body": True}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await _edge(app)(_scope(), trickle, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 408
    assert b"JANGKAU_BODY_TIMEOUT_S" in sent[1]["body"]  # type: ignore[operator]


async def test_listening_for_a_disconnect_after_the_body_is_not_slowness() -> None:
    """A route may wait on `receive` once the body is in (for a disconnect): neither the body's
    limit nor a pause of the request bound applies to that wait."""
    async def app(scope: object, receive: object, send: object) -> None:
        await receive()  # type: ignore[operator]
        assert (await receive())["type"] == "http.disconnect"  # type: ignore[operator]
        await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                    "headers": []})

    messages = [{"type": "http.request", "body": b"{}", "more_body": False},
                {"type": "http.disconnect"}]

    async def receive() -> dict[str, object]:
        if len(messages) == 1:
            await asyncio.sleep(0.5)    # past the body's limit, within the request bound
        return messages.pop(0)

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await _edge(app)(_scope(), receive, send)  # type: ignore[arg-type]
    assert [m["status"] for m in sent] == [200]


async def test_one_log_line_per_request_with_its_id(db_url: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jangkau.http")
    app = create_app(settings_for(db_url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://jangkau.test") as client:
        given = await client.get("/healthz", headers={"X-Request-Id": "phone-42.7"})
        made = await client.get("/nowhere", headers={"X-Request-Id": "x" * 65})
    assert given.headers["x-request-id"] == "phone-42.7"
    assert made.headers["x-request-id"] not in ("", "x" * 65)
    lines = [r for r in caplog.records if r.name == "jangkau.http"]
    assert [(r.method, r.path, r.status, r.request_id) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/healthz", 200, "phone-42.7"),
        ("GET", "/nowhere", 404, made.headers["x-request-id"])]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]
    out = json.loads(JsonFormatter().format(lines[0]))
    assert {k: out[k] for k in ("method", "path", "status", "request_id", "level")} == {
        "method": "GET", "path": "/healthz", "status": 200, "request_id": "phone-42.7",
        "level": "INFO"}


def test_error_response_shapes() -> None:
    outage = DatabaseUnavailable("down")
    assert error_response(outage, path="/tiles/areas.json").body == \
        b'{"error":{"code":"DATABASE_UNAVAILABLE","message":"down"}}'
    assert json.loads(error_response(outage, path="/graphql").body) == {
        "errors": [{"message": "down", "extensions": {"code": "DATABASE_UNAVAILABLE"}}]}


def test_time_bounds_are_read_from_the_environment() -> None:
    s = Settings.from_env({"JANGKAU_CONNECT_TIMEOUT_S": "0.5", "JANGKAU_POOL_TIMEOUT_S": "0.7",
                           "JANGKAU_REQUEST_TIMEOUT_S": "4", "JANGKAU_READY_TIMEOUT_S": "1",
                           "JANGKAU_HEADER_TIMEOUT_S": "2", "JANGKAU_BODY_TIMEOUT_S": "3",
                           "JANGKAU_SHUTDOWN_TIMEOUT_S": "6", "JANGKAU_LOG_FORMAT": "JSON"})
    assert (s.connect_timeout_s, s.pool_timeout_s, s.request_timeout_s, s.ready_timeout_s,
            s.header_timeout_s, s.body_timeout_s, s.shutdown_timeout_s, s.log_format) == (
        0.5, 0.7, 4.0, 1.0, 2.0, 3.0, 6.0, "json")
    d = Settings.from_env({})
    assert d.statement_timeout_ms / 1000 < d.request_timeout_s <= 10
    with pytest.raises(Exception, match="JANGKAU_REQUEST_TIMEOUT_S must be a number of seconds"):
        Settings.from_env({"JANGKAU_REQUEST_TIMEOUT_S": "soon"})
