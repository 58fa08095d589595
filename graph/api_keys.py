"""Who asks, over HTTP: an API key (`X-API-Key`, or `?key=` where a GIS dialog cannot set
headers) or a bearer token, as one small function that every route calls.

A key becomes a read-only `Principal` with the key's role, unit and areas; it is looked up on
every request (no cache), so a revoked or expired key is refused from the next request on. Keys
in URLs never reach a log: `ScrubKeys` masks them in uvicorn's access lines.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from geo import api_keys
from geo.periods import WIB
from graph.auth import Principal, Unauthenticated, Verifier, authenticate

KEY_HEADER = "x-api-key"
KEY_PARAM = "key"
_IN_URL = re.compile(r"([?&]key=)[^&\s\"]*")


def key_of(request: Request, *, key_param: bool) -> str | None:
    """The key this request carries, from the header or (where allowed) the query string."""
    header = request.headers.get(KEY_HEADER)
    # GDAL repeats the connection URL's query on links that already carry it: same key, once.
    params = list(dict.fromkeys(request.query_params.getlist(KEY_PARAM))) if key_param else []
    if len(params) > 1 or (header is not None and params):
        raise Unauthenticated("give the API key once: in the X-API-Key header or as `key`")
    return header if header is not None else (params[0] if params else None)


async def caller(request: Request, verifier: Verifier, *, key_param: bool) -> Principal | None:
    """The verified caller, None when anonymous; a key and a token together are refused."""
    key = key_of(request, key_param=key_param)
    authorization = request.headers.get("authorization")
    if key is None:
        return authenticate(verifier, authorization)
    if authorization is not None:
        raise Unauthenticated("give either an API key or a bearer token, not both")
    return await principal_of_key(request.app.state.engine, key)


async def principal_of_key(engine: AsyncEngine, key: str) -> Principal:
    """The read-only caller a key stands for, looked up now: a revoked, expired or unknown key
    is UNAUTHENTICATED."""
    async with engine.connect() as conn:
        row = await api_keys.lookup(conn, key.strip())
    if row is None:
        raise Unauthenticated("unknown API key: `jangkau keys create` makes one")
    refusal = row.refusal(datetime.now(WIB).date())
    if refusal is not None:
        raise Unauthenticated(f"{refusal}; ask for a new one")
    return Principal(sub=f"key:{row.id}", role=row.role, unit=row.unit, read_only=True,
                     key_areas=row.areas)


def scrub(line: str) -> str:
    """`line` with the value of every `key=` query parameter masked."""
    return _IN_URL.sub(r"\1***", line)


class ScrubKeys(logging.Filter):
    """Masks API keys in the URLs of log records (uvicorn logs each request's path and query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        return True


def scrub_access_log() -> None:
    """Install `ScrubKeys` on uvicorn's access logger, once."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, ScrubKeys) for f in logger.filters):
        logger.addFilter(ScrubKeys())
