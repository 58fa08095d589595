"""Running the app under uvicorn with the limits a public server needs.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) and the shutdown
(`timeout_graceful_shutdown`: on SIGTERM it stops accepting, lets requests in flight finish for
that long, then the lifespan closes the pool), but not the time a client may take to send its
headers: `HeaderTimeout` closes a connection whose headers have not arrived in full within
`header_timeout_s` of it opening or of its previous request. The body's time limit is an ASGI
middleware (graph.middleware.Edge).
"""

from __future__ import annotations

import asyncio
import gc

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from geo.settings import Settings
from graph.app import create_app
from graph.logs import log_config

MAX_HEADER_BYTES = 65_536


class HeaderTimeout(HttpToolsProtocol):
    """Slow-loris guard: the request line and headers must arrive within `limit_s`, and in at
    most MAX_HEADER_BYTES (what h11_max_incomplete_event_size does for uvicorn's h11)."""

    limit_s = 5.0
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.limit_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None:      # the headers are still incomplete
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._disarm()
                self.send_400_response(f"request headers over {MAX_HEADER_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


def app_from_env() -> Starlette:
    """The app of one server process, from the environment: with `--workers N` each worker
    process builds its own (nothing that matters for correctness is shared in memory; the
    database is the one truth)."""
    settings = Settings.from_env()
    HeaderTimeout.limit_s = settings.header_timeout_s
    app = create_app(settings)
    # What is loaded by now (modules, the schema) lives as long as the process: out of the
    # collector's sight, its full collections stop walking it (~8 % of a lookup's CPU).
    gc.freeze()
    return app


def run(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve `app_from_env` on host:port; `workers` > 1 runs that many processes sharing the
    port (uvicorn's supervisor restarts one that dies)."""
    uvicorn.run("graph.serving:app_from_env", factory=True, host=host, port=port,
                workers=workers, loop="uvloop", http=HeaderTimeout,
                log_config=log_config(settings.log_format), access_log=False,
                timeout_keep_alive=max(1, round(settings.keep_alive_s)),
                timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_s)))
