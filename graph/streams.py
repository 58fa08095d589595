"""Live transports: graphql-transport-ws over WebSockets (strawberry's handler, whose
subscriptions run through channels here), GraphQL over Server-Sent Events (the graphql-sse
protocol, "distinct connections" mode) for clients that cannot open a WebSocket, and the closing
of a socket when its token expires.

A subscription is run once per channel (geo.hub.Channel), not once per client: clients that send
the same document, operation name and variables in the same permission scope (`scope_of`: their
role, unit, areas, API key limits and staff id, never anything else of who they are) share one
run, whose context knows only that scope. Each result is executed and serialised once and the
same bytes go to every member, after the reads of others' activities it carries are logged for
each of them. A subscription with `since` has a catch-up of its own and runs alone.

An SSE request is a POST (or GET) of an ordinary GraphQL request to /graphql that accepts
`text/event-stream`; each result is an `event: next` whose data is the JSON result, and the end
is `event: complete`. A comment line every KEEPALIVE_S keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import replace
from typing import Any, cast

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_operation_ast,
    parse,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message as WSMessage
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.utils.aio import aclosing

from geo.access_log import Entry, Ledger
from geo.errors import JangkauError
from geo.hub import END, Channel, Hub, Member, Message
from graph.api_keys import principal_of_key
from graph.auth import Principal, Unauthenticated
from graph.context import Context
from graph.errors import format_error

EVENT_STREAM = "text/event-stream"
KEEPALIVE_S = 15.0
FORBIDDEN = 4403          # graphql-transport-ws: the socket's credentials no longer hold
KEY_RECHECK_S = 10.0
SHARED_SUB = "*"          # the `sub` of a shared run: no one in particular
CATCH_UP = "since"        # an argument that gives each client a replay of its own


@functools.lru_cache(maxsize=256)
def _subscription(query: str, operation_name: str | None) -> OperationDefinitionNode | None:
    try:
        op = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return None
    return op if op is not None and op.operation == OperationType.SUBSCRIPTION else None


def is_subscription(query: str, operation_name: str | None) -> bool:
    """Whether `query` names a subscription (one that does not parse is left to strawberry,
    which answers it as usual)."""
    return _subscription(query, operation_name) is not None


def _catches_up(op: OperationDefinitionNode, variables: dict[str, Any]) -> bool:
    """Whether a root field of `op` is given a `since` (a literal, or a variable that is set
    or has a default); a root selected through a fragment is not looked into: it may."""
    defaults = {d.variable.name.value: d.default_value for d in op.variable_definitions or ()}
    for field in op.selection_set.selections:
        if not isinstance(field, FieldNode):
            return True
        for arg in field.arguments or ():
            if arg.name.value != CATCH_UP or isinstance(arg.value, NullValueNode):
                continue
            if not isinstance(arg.value, VariableNode):
                return True
            name = arg.value.name.value
            if variables.get(name) is not None or (
                    name not in variables and defaults.get(name) is not None):
                return True
    return False


def scope_of(principal: Principal | None) -> Principal | None:
    """What a shared run knows of its clients: all that permissions look at (role, unit, areas,
    an API key's read-only state and areas, the staff id a staff or supervisor token names),
    never who else they are (`sub`) nor when their token expires."""
    if principal is None:
        return None
    staff = principal.staff_id
    return replace(principal, sub=str(staff) if staff else SHARED_SUB, expires_at=None)


def channel_key(query: str, variables: dict[str, Any] | None, operation_name: str | None,
                principal: Principal | None) -> Hashable | None:
    """Clients with the same key get the same results; None: this one runs alone (its catch-up
    is its own)."""
    op = _subscription(query, operation_name)
    if op is None or _catches_up(op, variables or {}):
        return None
    try:
        values = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return (query, operation_name, values, scope_of(principal))


def _error(exc: JangkauError) -> dict[str, Any]:
    return format_error(GraphQLError(exc.message, original_error=exc))


def _take_reads(ctx: Context) -> list[Entry]:
    """Others' activities the run read for its latest result, as its scope reads them."""
    if ctx.ledger is None:
        return []
    entries = ctx.ledger.entries()
    ctx.ledger = Ledger(ctx.ledger.reader)
    return entries


def _serialise(result: ExecutionResult, kind: str) -> bytes:
    errors = [format_error(e) for e in result.errors or []]
    if kind == "error":
        return orjson.dumps(errors)
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = errors
    if result.extensions:
        body["extensions"] = result.extensions
    return orjson.dumps(body)


def join(schema: BaseSchema, ctx: Context, query: str, variables: dict[str, Any] | None,
         operation_name: str | None) -> tuple[Hub, Member]:
    """The client's membership of the channel that runs its subscription."""
    hub = ctx.hub
    if hub is None:
        raise JangkauError("live updates are not available on this server", code="BAD_REQUEST")
    key = channel_key(query, variables, operation_name, ctx.principal)
    # A run of its own: a context of its own (its ledger and loaders are no one else's).
    run_ctx = Context(settings=ctx.settings, engine=ctx.engine, replicas=ctx.replicas, hub=hub,
                      access_writer=ctx.access_writer,
                      principal=scope_of(ctx.principal) if key is not None else ctx.principal)

    async def run(channel: Channel) -> None:
        source = await schema.subscribe(query, variable_values=variables, context_value=run_ctx,
                                        operation_name=operation_name)
        if isinstance(source, ExecutionResult):
            await hub.publish(channel, Message("next", _serialise(source, "next")), [])
            return
        first = True
        async with aclosing(source):
            async for result in source:
                kind = "error" if first and isinstance(result, PreExecutionError) else "next"
                await hub.publish(channel, Message(kind, _serialise(result, kind)),
                                  _take_reads(run_ctx))
                if kind == "error":
                    return
                first = False

    owner = ctx.principal.sub if ctx.principal else "anonymous"
    return hub, hub.join(key, owner, ctx.ledger.reader if ctx.ledger else None, run)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws, with subscriptions run through channels: each `next`
    carries the bytes its channel serialised once for all its members."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        if not is_subscription(operation.query, operation.operation_name):
            await super().run_operation(operation)
            return

        async def send(kind: str, payload: object) -> None:
            message = {"id": operation.id, "type": kind, "payload": payload}
            await operation.send_operation_message(cast(WSMessage, message))

        try:
            hub, member = join(self.schema, self.context, operation.query,
                               operation.variables, operation.operation_name)
        except JangkauError as exc:
            await send("error", [_error(exc)])
            return
        try:
            while True:
                try:
                    message = await member.next()
                except JangkauError as exc:
                    await send("next", {"data": None, "errors": [_error(exc)]})
                    break
                if message is END:
                    break
                await send(message.kind, orjson.Fragment(message.payload))
                if message.kind == "error":
                    return
            await operation.send_operation_message(
                cast(WSMessage, {"id": operation.id, "type": "complete"}))
        finally:
            hub.leave(member)


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
    return _next(_serialise(result, "next"))


def _next(payload: bytes) -> bytes:
    return b"event: next\ndata: " + payload + b"\n\n"


COMPLETE = b"event: complete\ndata: \n\n"


async def _member_events(hub: Hub, member: Member) -> AsyncIterator[bytes]:
    """A channel member's messages as events, a keep-alive comment when it is quiet."""
    try:
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    message = await member.next()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            except JangkauError as exc:
                yield _next(orjson.dumps({"data": None, "errors": [_error(exc)]}))
                break
            if message is END:
                break
            if message.kind == "error":
                yield _next(b'{"data":null,"errors":' + message.payload + b"}")
                break
            yield _next(message.payload)
        yield COMPLETE
    finally:
        hub.leave(member)


async def serve_sse(schema: BaseSchema, ctx: Context, request: Request, scope: Scope,
                    receive: Receive, send: Send) -> None:
    try:
        params = await _params(request)
    except (ValueError, orjson.JSONDecodeError) as exc:
        error = {"message": str(exc), "extensions": {"code": "BAD_REQUEST"}}
        await JSONResponse({"errors": [error]}, status_code=400)(scope, receive, send)
        return
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    query, variables, name = params["query"], params.get("variables"), params.get("operationName")
    if is_subscription(query, name):
        try:
            hub, member = join(schema, ctx, query, variables, name)
        except JangkauError as exc:
            refused = _next(orjson.dumps({"data": None, "errors": [_error(exc)]}))

            async def refusal() -> AsyncIterator[bytes]:
                yield refused
                yield COMPLETE

            await StreamingResponse(refusal(), media_type=EVENT_STREAM,
                                    headers=headers)(scope, receive, send)
            return
        try:
            await StreamingResponse(_member_events(hub, member), media_type=EVENT_STREAM,
                                    headers=headers)(scope, receive, send)
        finally:
            hub.leave(member)       # also when the stream never started
        return
    source = await schema.subscribe(query, variable_values=variables, context_value=ctx,
                                    operation_name=name)

    async def events() -> AsyncIterator[bytes]:
        if isinstance(source, ExecutionResult):     # not a subscription: one result
            yield _event(source)
            yield COMPLETE
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
                    async with asyncio.timeout(KEEPALIVE_S):
                        result = await queue.get()
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if result is None:
                    break
                yield _event(result)
            yield COMPLETE
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await source.aclose()

    await StreamingResponse(events(), media_type=EVENT_STREAM, headers=headers
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
