"""`python -m bench.inprocess --database NAME`: the CPU of one `activity(id)` lookup through
the whole app, without HTTP (issue 13).

The lookup row under `wrk` shares two cores between wrk, PostgreSQL and the server, and its CPU
per lookup moves by 10-20 % from run to run. This drives the app's ASGI callable itself in this
process (the lifespan, then 16 concurrent callers, the bench's lookup body as an admin: every
answer writes its access-log row), so that what is measured is the app's own CPU per request:
the middleware, the fast path, the statement on the driver and the group commit, but not
uvicorn's HTTP parsing. Prints each round's CPU per lookup and lookups per second, on a
database `python -m bench` loaded and kept (its server URL as the bench's).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
from typing import Any

import asyncpg
import orjson
import uvloop

from bench import queries
from bench.database import admin_headers, jangkau_env, server_url, with_database
from geo.settings import Settings
from graph.app import create_app

CALLERS = 16


class _App:
    """The app's lifespan and its requests, driven from this process."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.life: asyncio.Task[None] | None = None
        self.headers = [(k.lower().encode(), v.encode()) for k, v in admin_headers().items()]
        self.headers.append((b"content-type", b"application/json"))

    async def start(self) -> None:
        await self.inbox.put({"type": "lifespan.startup"})
        self.life = asyncio.create_task(self.app({"type": "lifespan", "state": {},
                                                  "asgi": {"version": "3.0"}},
                                                 self.inbox.get, self.outbox.put))
        started = await self.outbox.get()
        assert started["type"] == "lifespan.startup.complete", started

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        assert self.life is not None
        await self.life

    async def post(self, body: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/graphql",
                 "raw_path": b"/graphql", "query_string": b"", "root_path": "",
                 "headers": [*self.headers, (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()        # no disconnect: the answer is awaited
            raise AssertionError

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        if sent[0]["status"] != 200 or b'"errors"' in sent[1]["body"]:
            raise AssertionError(f"{sent[0]['status']}: {sent[1]['body'][:300]!r}")


async def main(database: str, rounds: int, requests: int) -> None:
    url = with_database(server_url(), database)
    conn = await asyncpg.connect(url)
    ids = [str(r) for (r,) in await conn.fetch(
        "SELECT id FROM activities TABLESAMPLE SYSTEM (1) REPEATABLE (42) LIMIT 64")]
    await conn.close()
    bodies = [orjson.dumps({"query": queries.LOOKUP, "variables": {"id": i}}) for i in ids]
    # The request log's lines are written, as the server writes them, but not shown.
    logging.basicConfig(level=logging.WARNING, handlers=[logging.NullHandler()])
    logging.getLogger("jangkau.http").setLevel(logging.INFO)
    app = _App(create_app(Settings.from_env(jangkau_env(url))))     # as the bench serves it
    await app.start()
    each = requests // CALLERS

    async def caller(k: int) -> None:
        for j in range(each):
            await app.post(bodies[(k + j) % len(bodies)])

    try:
        await asyncio.gather(*(caller(k) for k in range(CALLERS)))     # warm-up
        for r in range(rounds):
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(caller(k) for k in range(CALLERS)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            n = each * CALLERS
            print(f"round {r + 1}: {cpu * 1000 / n:.3f} ms CPU a lookup, {n / wall:,.0f} "
                  f"lookups/s ({n:,} lookups, {CALLERS} callers)", flush=True)
    finally:
        await app.stop()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=6400, help="lookups a round")
    a = parser.parse_args()
    uvloop.run(main(a.database, a.rounds, a.requests))


if __name__ == "__main__":
    cli()
