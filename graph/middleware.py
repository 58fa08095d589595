"""The one ASGI middleware every HTTP request passes, before any route reads a byte.

In this order, for each request: its id and, once answered, its log line (graph.logs); who is
asking, by bearer token or API key (graph.api_keys.caller), on `request.state.principal`, or a
401; the body's size cap and the time bounds of reading the body and of answering; and a coded
answer for whatever a route lets escape (graph.edge.error_response).

- **Body cap.** A body over `max_bytes` (JANGKAU_MAX_BODY_BYTES, 1 MiB by default) is refused
  with 413 and a GraphQL-shaped error coded LIMIT_EXCEEDED, whether it announces its length
  (Content-Length, refused before reading) or streams it in chunks (refused once the count
  passes the cap, before the route sees the body).
- **Time bounds.** Every request is answered (its response started) within `request_s` of its
  body having arrived in full, and a body must arrive within `body_s` (a slow client is
  answered 408 and let go). The request bound is the last resort, for a database that stops
  answering altogether: connect, pool and statement timeouts end the common cases sooner and
  more precisely. Its answer is DATABASE_UNAVAILABLE with 503 and Retry-After, sent at once;
  the route's work is cancelled and left to unwind on its own (see `abandon`).
- **Escapes.** An outage becomes a 503 with Retry-After, logged as one line; a client gone
  mid-body is noted at debug level; anything else is a bug, logged with its trace and answered
  as a bare 500.

One layer rather than five: each was a wrapper of `receive` and `send` per request, and the
time bound a task, an event and a wait per step; together they took about 0.12 ms of a 0.28 ms
lookup (issue 13). The bound is now one timer, moved as the request goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.db import unavailable
from geo.errors import DatabaseUnavailable, JangkauError
from graph.api_keys import caller
from graph.auth import CHALLENGE, Unauthenticated, Verifier
from graph.edge import error_response, internal_error, key_in_query, log_outage
from graph.logs import FIELDS, request_id
from graph.logs import log as request_log

log = logging.getLogger("jangkau.edge")
T = TypeVar("T")


class _TooLarge(Exception):
    """Raised from `receive` when the body passes the cap."""


class _SlowBody(Exception):
    """Raised from `receive` when the body does not arrive within its time limit."""


_abandoned: set[asyncio.Task[Any]] = set()


def abandon(task: asyncio.Task[Any]) -> None:
    """Cancel `task` without waiting for it: against a frozen database its clean-up (a
    rollback on the way back to the pool) waits for the driver's own timeout, and the client
    has been answered already. Kept referenced until done, its outcome read and dropped."""
    task.cancel()
    _abandoned.add(task)

    def reap(done: asyncio.Task[Any]) -> None:
        _abandoned.discard(done)
        if not done.cancelled():
            done.exception()

    task.add_done_callback(reap)


async def bounded(work: Awaitable[T], seconds: float) -> T:
    """`work`'s result, or TimeoutError after `seconds`, without waiting for it to unwind."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task not in done:
        abandon(task)
        raise TimeoutError
    return task.result()


def too_large(max_bytes: int) -> JSONResponse:
    message = (f"the request body is larger than {max_bytes:,} bytes "
               "(max_body_bytes, JANGKAU_MAX_BODY_BYTES)")
    return JSONResponse({"errors": [{"message": message,
                                     "extensions": {"code": "LIMIT_EXCEEDED"}}]},
                        status_code=413)


class Edge:
    """Every HTTP request's id and log line, caller, body cap, time bounds and coded escapes
    (the module's docstring); WebSockets and the lifespan pass through."""

    def __init__(self, app: ASGIApp, verifier: Verifier, max_bytes: int, request_s: float,
                 body_s: float) -> None:
        self.app = app
        self.verifier = verifier
        self.max_bytes = max_bytes
        self.request_s = request_s
        self.body_s = body_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        stamp = (b"x-request-id", rid.encode())
        status = 0   # 0: no answer was sent (the client left, or the answer broke off)
        began = time.perf_counter()

        async def out(message: Message) -> None:
            """Every answer leaves here, with the request's id."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), stamp]
            await send(message)

        try:
            await self._bounded(scope, receive, out)
        finally:
            ms = round((time.perf_counter() - began) * 1000, 1)
            line = dict(zip(FIELDS, (scope["method"], scope["path"], status, ms, rid),
                            strict=True))
            request_log.info("%s %s %s %.1f ms %s", *line.values(), extra=line)

    async def _bounded(self, scope: Scope, receive: Receive, out: Send) -> None:
        """The request within its time bounds: the route runs as a task of its own, so that
        the bound can answer while it is stuck."""
        loop = asyncio.get_running_loop()
        body_by = loop.time() + self.body_s
        started = answered = body_done = False
        received = 0
        expired = loop.create_future()
        timer: asyncio.TimerHandle | None = None

        def expire() -> None:
            if not expired.done():
                expired.set_result(None)

        def bound(at: float | None) -> None:
            """The request must be answered by `at` (None: no bound now)."""
            nonlocal timer
            if timer is not None:
                timer.cancel()
            timer = None if at is None else loop.call_at(at, expire)

        async def timed() -> Message:
            nonlocal body_done, received
            if body_done:           # listening for a disconnect: not the client's slowness
                return await receive()
            bound(None)             # reading the body has its own limit
            try:
                async with asyncio.timeout_at(body_by):
                    message = await receive()
            except TimeoutError:
                raise _SlowBody from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
                bound(loop.time() + self.request_s)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if answered:
                return      # the bound answered for this request already
            if message["type"] == "http.response.start" and not started:
                # Answered in time: what streams after (an export, a live event stream) is no
                # longer bounded by the request's deadline.
                started = True
                bound(None)
            await out(message)

        async def answer(response: Response) -> None:
            if not started:     # else too late for another answer: the connection is cut short
                await response(scope, receive, watched)

        async def route() -> None:
            try:
                if not await self._authenticated(scope, receive, watched):
                    return
                declared = _content_length(scope)
                if declared is not None and declared > self.max_bytes:
                    raise _TooLarge
                await self.app(scope, timed, watched)
            except _SlowBody:
                log.debug("slow client: %s %s", scope["method"], scope["path"])
                response = error_response(JangkauError(
                    f"the request body did not arrive within {self.body_s:g} s "
                    "(JANGKAU_BODY_TIMEOUT_S)", code="BAD_REQUEST"), path=scope["path"],
                    status=408)
                response.headers["Connection"] = "close"    # the rest is not waited for
                await answer(response)
            except _TooLarge:
                await answer(too_large(self.max_bytes))
            except ClientDisconnect:
                # The client left mid-body: no one to answer, nothing broken.
                log.debug("client disconnected during %s %s", scope["method"], scope["path"])
            except Exception as exc:
                outage = unavailable(exc)
                path = scope["path"]
                if outage is not None:
                    log_outage(f"{scope['method']} {path}", outage)
                else:
                    log.error("unexpected error at %s %s", scope["method"], path, exc_info=exc)
                await answer(error_response(outage, path=path) if outage
                             else internal_error(path))

        task = loop.create_task(route())
        task.add_done_callback(lambda _: expire())
        bound(loop.time() + self.request_s)
        try:
            await expired
            if not task.done() and started:
                await asyncio.shield(task)  # answered in time: what streams goes on
        except asyncio.CancelledError:      # the server gave up on this request (shutdown)
            bound(None)
            abandon(task)
            raise
        bound(None)
        if task.done():
            task.result()
            return
        abandon(task)
        answered = True
        outage = DatabaseUnavailable(
            f"no answer within the request bound of {self.request_s:g} s "
            "(JANGKAU_REQUEST_TIMEOUT_S): the database is not answering; retry in a few "
            "seconds (resending a record mutation is safe)")
        log_outage(f"{scope['method']} {scope['path']}", outage)
        await error_response(outage, path=scope["path"])(scope, receive, out)

    async def _authenticated(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Whether the caller is known (or anonymous): `request.state.principal`; a 401
        otherwise, answered here."""
        request = Request(scope)
        try:
            request.state.principal = await caller(request, self.verifier,
                                                   key_param=key_in_query(scope["path"]))
        except Unauthenticated as exc:
            response = error_response(exc, path=scope["path"])
            response.headers["WWW-Authenticate"] = f'{CHALLENGE}, error="invalid_token"'
            await response(scope, receive, send)
            return False
        return True


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
