"""The GraphQL HTTP endpoint: strawberry's ASGI view with coded errors and orjson output."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from graph.context import Context
from graph.errors import format_error


class GraphQLView(GraphQL[Context, None]):
    def encode_json(self, data: object) -> bytes:
        # orjson passes GeoJSON Fragments through untouched: no parse, no re-serialise.
        return orjson.dumps(data)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        state = request.app.state
        return Context(settings=state.settings, engine=state.engine)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        data: dict[str, Any] = {"data": result.data}
        if result.errors:
            data["errors"] = [format_error(e) for e in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data  # type: ignore[return-value]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            # Malformed JSON, a missing query, a wrong method: still a coded GraphQL error.
            code = "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "BAD_REQUEST"
            response = JSONResponse({"errors": [{"message": exc.reason, "extensions": {"code": code}}]},
                                    status_code=exc.status_code)
        await response(scope, receive, send)
