"""The HTTP edge every route shares: who is asking, and how a refusal looks over HTTP.

`Authenticate` verifies the bearer token once per request and leaves the caller on
`request.state.principal` (None: anonymous); a token that does not verify is a 401 on every
route. `error_response` turns a coded error into its HTTP status and JSON envelope, and
`Edge` catches what a route lets escape: an outage becomes a 503 with `Retry-After`, logged as
one line; a client gone mid-body is noted at debug level; anything else is a bug, logged with
its trace and answered as a bare 500.

Envelopes: GraphQL's `{"errors": [{"message", "extensions": {"code"}}]}` everywhere, except
under PLAIN_PREFIXES (tiles: `{"error": {"code", "message"}}`).
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.db import unavailable
from geo.errors import JangkauError
from graph.api_keys import caller
from graph.auth import CHALLENGE, Unauthenticated, Verifier
from graph.errors import INTERNAL_MESSAGE

log = logging.getLogger("jangkau.edge")

RETRY_AFTER_S = 5       # what a client is told to wait before retrying during an outage
PLAIN_PREFIXES = ("/tiles/", "/export/")
# Every other code is the client's to fix: 400.
STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "DATABASE_UNAVAILABLE": 503,
    "INTERNAL_SERVER_ERROR": 500,
}


def status_of(code: str) -> int:
    return STATUS.get(code, 400)


def ogc(path: str) -> bool:
    """OGC API - Features answers errors as its exception: `{"code", "description"}`."""
    return path == "/ogc" or path.startswith("/ogc/")


def key_in_query(path: str) -> bool:
    """Where an API key may come as `?key=` (GIS dialogs that cannot set a header)."""
    return path.startswith("/tiles/") or ogc(path)


def plain(path: str) -> bool:
    """Whether a route answers errors in the plain envelope rather than GraphQL's."""
    return path.startswith(PLAIN_PREFIXES)


def headers_for(code: str) -> dict[str, str]:
    if code == "UNAUTHENTICATED":
        return {"WWW-Authenticate": CHALLENGE}
    if code == "DATABASE_UNAVAILABLE":
        return {"Retry-After": str(RETRY_AFTER_S)}
    return {}


def error_response(exc: JangkauError, *, path: str = "", status: int | None = None
                   ) -> JSONResponse:
    """The error as the route at `path` answers it; `status` overrides the code's own."""
    body: object = (
        {"code": exc.code, "description": exc.message} if ogc(path)
        else {"error": {"code": exc.code, "message": exc.message}} if plain(path)
        else {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]})
    return JSONResponse(body, status_code=status or status_of(exc.code),
                        headers=headers_for(exc.code))


def internal_error(path: str) -> JSONResponse:
    return error_response(JangkauError(INTERNAL_MESSAGE, code="INTERNAL_SERVER_ERROR"),
                          path=path)


def log_outage(where: str, outage: JangkauError) -> None:
    """An outage is expected and not a bug: one line, no trace."""
    log.warning("%s: %s", where, outage.message)


class Authenticate:
    """One authentication step for every route, by bearer token or API key
    (graph.api_keys.caller): `request.state.principal`, or a 401."""

    def __init__(self, app: ASGIApp, verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            request.state.principal = await caller(request, self.verifier,
                                                   key_param=key_in_query(scope["path"]))
        except Unauthenticated as exc:
            response = error_response(exc, path=scope["path"])
            response.headers["WWW-Authenticate"] = f'{CHALLENGE}, error="invalid_token"'
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Edge:
    """What a route lets escape is still a coded answer, never a trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
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
            if started:     # too late for another answer: the connection is closed short
                return
            response = error_response(outage, path=path) if outage else internal_error(path)
            await response(scope, receive, send)
