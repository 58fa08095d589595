"""How a refusal looks over HTTP, on every route: `error_response` turns a coded error into
its HTTP status and JSON envelope. The middleware that answers with it is graph.middleware.Edge
(who is asking, time bounds, body cap, whatever a route lets escape).

Envelopes: GraphQL's `{"errors": [{"message", "extensions": {"code"}}]}` everywhere, except
under PLAIN_PREFIXES (tiles: `{"error": {"code", "message"}}`).
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from geo.errors import JangkauError
from graph.auth import CHALLENGE
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
