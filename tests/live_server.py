"""The app served by a real uvicorn on a free loopback port, inside the test's event loop: for
clients that need a socket (WebSockets, Server-Sent Events, GDAL)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from geo.settings import Settings
from graph.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Live:
    url: str                  # http://127.0.0.1:PORT
    app: Starlette


@asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[Live]:
    """The served app, once it is up and listening."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await task
