"""The GraphQL HTTP endpoint: strawberry's ASGI view with coded errors and orjson output.

The bearer token or API key (`X-API-Key`, never a query parameter here) is verified before
anything runs (graph.middleware.Edge): one that does not verify is a 401 coded
UNAUTHENTICATED. A request without either runs as anonymous, and a field it may not use answers
UNAUTHENTICATED with 401 too. An answer with DATABASE_UNAVAILABLE in it is a 503 with
Retry-After: the whole request is worth retrying. Reads of other people's locations noted
during the request are written to the access log before the response leaves.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from geo.db import unavailable
from geo.errors import JangkauError
from graph.api_keys import principal_of_key
from graph.auth import CHALLENGE, Principal, Unauthenticated, Verifier, authenticate
from graph.context import Context, context_of
from graph.edge import error_response, headers_for, internal_error, log_outage
from graph.errors import format_error
from graph.fastpath import FastPath
from graph.graphiql import graphiql_page
from graph.streams import (
    TransportWSHandler,
    close_on_expiry,
    close_on_revocation,
    is_sse,
    serve_sse,
)

log = logging.getLogger("jangkau.access")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON_KINDS = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _is_request_error(result: ExecutionResult) -> bool:
    """Parse, validation and variable errors stop the request before execution: no path."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


def _refusal(exc: HTTPException) -> Response:
    """Malformed JSON, a missing query, a mutation over GET: still a coded GraphQL error."""
    # GraphQL over HTTP: a mutation sent with GET is a 405, and POST is the way.
    wrong_method = isinstance(exc.__cause__, InvalidOperationTypeError) or exc.status_code == 405
    code = "METHOD_NOT_ALLOWED" if wrong_method else "BAD_REQUEST"
    response = error_response(JangkauError(exc.reason, code=code),
                              status=405 if wrong_method else exc.status_code)
    if wrong_method:
        response.headers["Allow"] = "POST"
    return response


async def _write_access_log(request: Request) -> None:
    ctx: Context | None = getattr(request.state, "context", None)
    if ctx is None or ctx.ledger is None:
        return
    # Committed with the rows of the requests finishing alongside (geo.access_writer).
    await ctx.access_writer.write(ctx.ledger.reader, ctx.ledger.entries())


class GraphQLView(GraphQL[Context, None]):
    # Subscriptions run once per channel of clients asking the same (graph.streams).
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, schema: BaseSchema, fastpath: FastPath | None = None,
                 **options: Any) -> None:
        super().__init__(schema, **options)
        self.fastpath = fastpath    # lookups by id answered without the executor

    def encode_json(self, data: object) -> bytes:
        # orjson passes GeoJSON Fragments through untouched: no parse, no re-serialise.
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses a lone surrogate ("\ud800"): such text could neither be stored nor
        # echoed back, so the request is malformed JSON (400), not a bug (500).
        return orjson.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        # Strawberry expects an object (or a batch list) and would fail on `"x"` or `42`.
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            kind = JSON_KINDS.get(type(value), "null")
            raise HTTPException(400, f"expected a JSON object (a GraphQL request), got {kind}")
        return value

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET naming a persisted query has no `query` either; it wants the answer, not the IDE.
        return (super().should_render_graphql_ide(request)
                and request.query_params.get("extensions") is None)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        context = context_of(request)
        context.compile_pages = (context.settings.compile_pages
                                 and isinstance(request, Request) and not is_sse(request))
        request.state.context = context
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws: the token or API key comes in connection_init's payload
        (`{"Authorization": "Bearer ..."}` or `{"X-API-Key": "..."}`); a bad one closes the
        socket with 4403. So does the token's expiry, or the key's revocation or expiry."""
        params = {str(k).lower(): v for k, v in (context.connection_params or {}).items()}
        header, key = params.get("authorization"), params.get("x-api-key")
        try:
            if isinstance(key, str):
                if header is not None:
                    raise Unauthenticated("give either an API key or a bearer token, not both")
                principal: Principal | None = await principal_of_key(context.engine, key)
            else:
                principal = authenticate(self.verifier(context),
                                         header if isinstance(header, str) else None)
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from None
        context.become(principal)
        if context.socket is not None and principal is not None:
            if isinstance(key, str):
                close_on_revocation(context.socket, context.engine, key)
            elif principal.expires_at is not None:
                close_on_expiry(context.socket, principal.expires_at)
        return UNSET

    def verifier(self, context: Context) -> Verifier:
        assert context.socket is not None
        verifier: Verifier = context.socket.app.state.verifier
        return verifier

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        request_error = _is_request_error(result)
        request.state.request_error = request_error
        # The GraphQL spec: a request error has no `data` entry at all.
        data: dict[str, Any] = {} if request_error else {"data": result.data}
        if result.errors:
            data["errors"] = [format_error(e) for e in result.errors]
            codes = {e["extensions"]["code"] for e in data["errors"]}
            request.state.unauthenticated = "UNAUTHENTICATED" in codes
            # An outage anywhere in the answer: the client should retry the whole request.
            request.state.unavailable = "DATABASE_UNAVAILABLE" in codes
        if result.extensions:
            data["extensions"] = result.extensions
        return data  # type: ignore[return-value]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            if is_sse(request):
                await serve_sse(self.schema, await self.get_context(request, None), request,
                                scope, receive, send)
                return
            fast = await self.fastpath.answer(request) if self.fastpath else None
            response = fast or await self.run(request)
        except HTTPException as exc:
            response = _refusal(exc)
        else:
            try:
                # Nothing of another person's location leaves unless its reading is on record.
                await _write_access_log(request)
            except Exception as exc:  # noqa: BLE001 - whatever the cause, the answer is withheld
                outage = unavailable(exc)
                if outage is None:
                    log.exception("the access log could not be written: the answer is withheld")
                else:
                    log_outage("the access log could not be written", outage)
                response = error_response(outage) if outage else internal_error(scope["path"])
        if getattr(request.state, "unauthenticated", False):
            response.status_code = 401
            response.headers["WWW-Authenticate"] = CHALLENGE
        elif getattr(request.state, "unavailable", False):
            response.status_code = 503
            response.headers.update(headers_for("DATABASE_UNAVAILABLE"))
        asked = GRAPHQL_RESPONSE in request.headers.get("accept", "")
        if asked and response.media_type == "application/json":
            # The newer media type: the same body, but a request error is a 400, not a 200.
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if getattr(request.state, "request_error", False):
                response.status_code = 400
        await response(scope, receive, send)
