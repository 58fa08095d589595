"""HTTP-level guards, before any route reads a byte: the request body size cap.

A body over `max_body_bytes` (JANGKAU_MAX_BODY_BYTES, 1 MiB by default) is refused with 413 and
a GraphQL-shaped JSON error coded LIMIT_EXCEEDED, whether it announces its length
(Content-Length, refused before reading) or streams it in chunks (refused once the count
passes the cap, before the route sees the body).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
