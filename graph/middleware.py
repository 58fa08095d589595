"""HTTP-level guards, before any route reads a byte: the request body size cap, and the time
bounds of reading the body and of answering.

A body over `max_body_bytes` (JANGKAU_MAX_BODY_BYTES, 1 MiB by default) is refused with 413 and
a GraphQL-shaped JSON error coded LIMIT_EXCEEDED, whether it announces its length
(Content-Length, refused before reading) or streams it in chunks (refused once the count
passes the cap, before the route sees the body).
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.errors import DatabaseUnavailable, JangkauError
from graph.edge import error_response, log_outage

log = logging.getLogger("jangkau.edge")
T = TypeVar("T")


class _TooLarge(Exception):
    """Raised from `receive` when the body passes the cap; caught by BodySizeLimit."""


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> JSONResponse:
        message = (f"the request body is larger than {self.max_bytes:,} bytes "
                   "(max_body_bytes, JANGKAU_MAX_BODY_BYTES)")
        return JSONResponse({"errors": [{"message": message,
                                         "extensions": {"code": "LIMIT_EXCEEDED"}}]},
                            status_code=413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refusal()(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:  # a route that answers before reading its body: nothing left to say
                raise
            await self._refusal()(scope, receive, send)


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


class Deadlines:
    """Every request is answered (its response started) within `request_s` of its body having
    arrived in full, and a body must arrive within `body_s` (a slow client is answered 408 and
    let go).

    The request bound is the last resort, for a database that stops answering altogether:
    connect, pool and statement timeouts end the common cases sooner and more precisely. Its
    answer is DATABASE_UNAVAILABLE with 503 and Retry-After, sent at once; the route's work is
    cancelled and left to unwind on its own (see `abandon`).
    """

    def __init__(self, app: ASGIApp, request_s: float, body_s: float) -> None:
        self.app = app
        self.request_s = request_s
        self.body_s = body_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        body_by = loop.time() + self.body_s
        deadline: float | None = loop.time() + self.request_s
        moved = asyncio.Event()
        started = answered = body_done = False

        async def timed() -> Message:
            nonlocal deadline, body_done
            if body_done:           # listening for a disconnect: not the client's slowness
                return await receive()
            deadline = None         # reading the body has its own limit
            try:
                async with asyncio.timeout_at(body_by):
                    message = await receive()
            except TimeoutError:
                raise _SlowBody from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
                deadline = loop.time() + self.request_s
                moved.set()
            return message

        async def watched(message: Message) -> None:
            nonlocal started, deadline
            if answered:
                return      # the bound answered for this request already
            if message["type"] == "http.response.start" and not started:
                # Answered in time: what streams after (an export, a live event stream) is no
                # longer bounded by the request's deadline.
                started, deadline = True, None
                moved.set()
            await send(message)

        task = asyncio.ensure_future(self.app(scope, timed, watched))
        try:
            while not task.done():
                moved.clear()
                waiter = asyncio.ensure_future(moved.wait())
                left = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    await asyncio.wait({task, waiter}, timeout=left,
                                       return_when=FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if not task.done() and deadline is not None and loop.time() >= deadline:
                    break
        except asyncio.CancelledError:      # the server gave up on this request (shutdown)
            abandon(task)
            raise
        if task.done():
            try:
                task.result()
                return
            except _SlowBody:
                log.debug("slow client: %s %s", scope["method"], scope["path"])
                if not started:
                    response = error_response(JangkauError(
                        f"the request body did not arrive within {self.body_s:g} s "
                        "(JANGKAU_BODY_TIMEOUT_S)", code="BAD_REQUEST"),
                        path=scope["path"], status=408)
                    response.headers["Connection"] = "close"    # the rest is not waited for
                    await response(scope, receive, send)
                return
        abandon(task)
        outage = DatabaseUnavailable(
            f"no answer within the request bound of {self.request_s:g} s "
            "(JANGKAU_REQUEST_TIMEOUT_S): the database is not answering; retry in a few "
            "seconds (resending a record mutation is safe)")
        log_outage(f"{scope['method']} {scope['path']}", outage)
        if not started:
            answered = True
            await error_response(outage, path=scope["path"])(scope, receive, send)
