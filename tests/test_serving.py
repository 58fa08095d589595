"""`jangkau serve` as a process: slow clients are let go, a client leaving mid-body is no error,
SIGTERM lets the request in flight finish, and the log is one JSON line per request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from geo.db import create_engine
from tests.payloads import RECORD_ONE, activity
from tests.process import Server
from tests.tokens import bearer, token

ENV = {"JANGKAU_HEADER_TIMEOUT_S": "0.5", "JANGKAU_BODY_TIMEOUT_S": "0.5",
       "JANGKAU_SHUTDOWN_TIMEOUT_S": "5", "JANGKAU_LOG_FORMAT": "json",
       "JANGKAU_STATEMENT_TIMEOUT_MS": "4000"}


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(module_db_url, tmp_path_factory.mktemp("serving") / "server.log", ENV)
    yield s
    s.stop()


@pytest.fixture
def own_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """A server of its own test (it is shut down)."""
    s = Server(db_url, tmp_path / "server.log", ENV)
    yield s
    s.stop()


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent before closing the connection; fails if it stays open."""
    sock.settimeout(seconds)
    got = b""
    while chunk := sock.recv(4096):
        got += chunk
    return got


def test_slow_clients_are_let_go(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as idle:
        assert _closed_within(idle, 3) == b""           # connected, sent nothing
    with socket.create_connection(("127.0.0.1", server.port)) as loris:
        loris.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert _closed_within(loris, 3) == b""          # headers never completed
    with socket.create_connection(("127.0.0.1", server.port)) as endless:
        endless.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        with contextlib.suppress(OSError):      # the server may close while we still send
            for _ in range(100):
                endless.sendall(b"X-Pad: " + b"p" * 1000 + b"\r\n")
        # Closed (a timeout fails); with our headers unread the 400 may be lost in a reset.
        with contextlib.suppress(ConnectionResetError):
            assert _closed_within(endless, 3).startswith(b"HTTP/1.1 400")
    with socket.create_connection(("127.0.0.1", server.port)) as dribble:
        dribble.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                        b"\r\nContent-Length: 100\r\n\r\n{\"query\"")
        answer = _closed_within(dribble, 3)            # the body never completed
        assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_client_leaving_mid_body_is_no_error(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as gone:
        gone.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 1000\r\n\r\n{\"query\": ")
    assert httpx.get(f"{server.base}/healthz").status_code == 200
    time.sleep(0.3)
    log = server.log.read_text()
    assert "Traceback" not in log and '"level": "ERROR"' not in log, log


def test_one_json_line_per_request(server: Server) -> None:
    r = httpx.get(f"{server.base}/healthz", headers={"X-Request-Id": "probe-1"})
    assert r.headers["x-request-id"] == "probe-1"
    time.sleep(0.2)
    lines = [json.loads(line) for line in server.log.read_text().splitlines()
             if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "probe-1"]
    assert len(mine) == 1
    assert {k: mine[0][k] for k in ("method", "path", "status")} == {
        "method": "GET", "path": "/healthz", "status": 200}
    assert isinstance(mine[0]["duration_ms"], float)


async def test_sigterm_lets_the_request_in_flight_finish(own_server: Server, db_url: str) -> None:
    server = own_server
    locker = create_engine(db_url, pool_size=1)
    async with locker.connect() as conn, httpx.AsyncClient(
            base_url=server.base, headers=bearer(token("admin")), timeout=30) as client:
        await conn.execute(text("LOCK TABLE units IN ACCESS EXCLUSIVE MODE"))
        flight = asyncio.create_task(client.post("/graphql",
                                                 json={"query": "{ units { code } }"}))
        await asyncio.sleep(0.8)                # the request waits on the lock
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=server.base) as late:
            with pytest.raises(httpx.ConnectError):     # no new requests once shutting down
                await late.get("/healthz")
        await conn.rollback()                   # the lock goes: the request can finish
        answer = await flight
    await locker.dispose()
    assert answer.status_code == 200 and answer.json()["data"]["units"], answer.text
    # uvicorn ends by re-raising the signal, once the lifespan has closed the pool.
    assert await asyncio.to_thread(server.proc.wait, 10) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log.read_text()


async def test_workers_share_the_port_and_nothing_that_matters(db_url: str,
                                                               tmp_path: Path) -> None:
    """`--workers 2`: two server processes under one supervisor share the port, every request is
    answered by one of them, and a record is recognised as a duplicate whichever process gets
    the resend (the database, not memory, decides). Which worker the kernel hands a connection
    to is its own choice, so the test counts the workers rather than who answered."""
    s = Server(db_url, tmp_path / "server.log", ENV, "--workers", "2")
    try:
        headers = bearer(token("admin"))
        one = activity(90)
        workers = _children(s.proc.pid)
        assert len(workers) == 2
        async with asyncio.TaskGroup() as tg:
            calls = [tg.create_task(_fresh_get(s.base, "/readyz")) for _ in range(16)]
        assert all(c.result() == 200 for c in calls)
        pids = {line["pid"] for line in _lines(s) if line.get("path") == "/readyz"}
        assert pids and pids <= set(workers)      # answered by the workers, not the supervisor
        statuses = []
        for _ in range(6):
            async with httpx.AsyncClient(base_url=s.base) as http:    # a new connection each
                r = await http.post("/graphql", json={"query": RECORD_ONE, "variables": {"i": one}},
                                    headers=headers)
            statuses.append(r.json()["data"]["recordActivity"]["status"])
        assert statuses == ["CREATED"] + ["DUPLICATE"] * 5
    finally:
        s.stop()


def _children(pid: int) -> list[int]:
    """The worker processes `pid` spawned (not multiprocessing's resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid and \
                    b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
    return found


async def _fresh_get(base: str, path: str) -> int:
    async with httpx.AsyncClient(base_url=base) as http:
        return (await http.get(path)).status_code


def _lines(s: Server) -> list[dict[str, object]]:
    out = []
    for raw in s.log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(raw))
    return out
