"""Live transports beside strawberry's own graphql-transport-ws: GraphQL over Server-Sent Events
(the graphql-sse protocol, "distinct connections" mode) for clients that cannot open a WebSocket,
and the closing of a socket when its token expires.

An SSE request is a POST (or GET) of an ordinary GraphQL request to /graphql that accepts
`text/event-stream`; each result is an `event: next` whose data is the JSON result, and the end
is `event: complete`. A comment line every KEEPALIVE_S keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult

from graph.api_keys import principal_of_key
from graph.auth import Unauthenticated
from graph.context import Context
from graph.errors import format_error

EVENT_STREAM = "text/event-stream"
KEEPALIVE_S = 15.0
FORBIDDEN = 4403          # graphql-transport-ws: the socket's credentials no longer hold
KEY_RECHECK_S = 10.0


def is_sse(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "") and request.method in ("GET", "POST")


async def _params(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query_params)
        for key in ("variables", "extensions"):
            if key in raw:
                raw[key] = orjson.loads(raw[key])
    else:
        raw = orjson.loads(await request.body())
    if not isinstance(raw, dict) or not isinstance(raw.get("query"), str):
        raise ValueError("expected a GraphQL request: an object with a `query` string")
    if not isinstance(raw.get("variables") or {}, dict):
        raise ValueError("`variables` must be an object")
    return raw


def _event(result: ExecutionResult) -> bytes:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
    return b"event: next\ndata: " + orjson.dumps(body) + b"\n\n"


async def serve_sse(schema: BaseSchema, ctx: Context, request: Request, scope: Scope,
                    receive: Receive, send: Send) -> None:
    try:
        params = await _params(request)
    except (ValueError, orjson.JSONDecodeError) as exc:
        error = {"message": str(exc), "extensions": {"code": "BAD_REQUEST"}}
        await JSONResponse({"errors": [error]}, status_code=400)(scope, receive, send)
        return
    source = await schema.subscribe(params["query"], variable_values=params.get("variables"),
                                    context_value=ctx, operation_name=params.get("operationName"))

    async def events() -> AsyncIterator[bytes]:
        if isinstance(source, ExecutionResult):     # not a subscription: one result
            yield _event(source)
            yield b"event: complete\ndata: \n\n"
            return
        queue: asyncio.Queue[ExecutionResult | None] = asyncio.Queue(1)

        async def pull() -> None:
            async for result in source:
                await queue.put(result)
            await queue.put(None)

        task = asyncio.create_task(pull())
        try:
            while True:
                try:
                    result = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if result is None:
                    break
                yield _event(result)
            yield b"event: complete\ndata: \n\n"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await source.aclose()

    await StreamingResponse(events(), media_type=EVENT_STREAM,
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
                            )(scope, receive, send)


def close_on_revocation(socket: WebSocket, engine: AsyncEngine, key: str) -> None:
    """Close `socket` with 4403 once its API key is revoked or expires (checked every
    KEY_RECHECK_S: a key is looked up, never cached)."""
    async def watch() -> None:
        while True:
            await asyncio.sleep(KEY_RECHECK_S)
            if WebSocketState.DISCONNECTED in (socket.client_state, socket.application_state):
                return
            try:
                await principal_of_key(engine, key)
            except Unauthenticated:
                with contextlib.suppress(Exception):
                    await socket.close(FORBIDDEN, "the API key was revoked or has expired")
                return
            except Exception:  # noqa: BLE001 - the database unreachable: look again later
                continue

    socket.state.key_watch = asyncio.create_task(watch())


def close_on_expiry(socket: WebSocket, expires_at: float) -> None:
    """Close `socket` with 4403 when its token expires."""
    async def close() -> None:
        with contextlib.suppress(Exception):    # already closed by the client: nothing to do
            await socket.close(FORBIDDEN, "the token expired: reconnect with a new one")

    loop = asyncio.get_running_loop()
    handle = loop.call_later(max(0.0, expires_at - time.time()),
                             lambda: asyncio.ensure_future(close()))
    socket.state.expiry = handle
